import Database from 'better-sqlite3';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore } from '../../src/store/fs-store.js';
import { CountingStore } from './counting-store.js';

/** A scratch area for one test: a local data dir, a state dir and a file store, removed by `cleanup`. */
export interface Scratch {
  dir: string;
  dataDir: string;
  stateDir: string;
  store: CountingStore;
  cleanup(): Promise<void>;
}

/** Makes a scratch area under the OS temp dir. */
export async function makeScratch(label: string): Promise<Scratch> {
  const dir = await mkdtemp(join(tmpdir(), `persistd-sqlite-${label}-`));
  await mkdir(join(dir, 'store'));
  await mkdir(join(dir, 'data'));
  const store = new CountingStore(new FsStore(join(dir, 'store')));
  return { dir, dataDir: join(dir, 'data'), stateDir: join(dir, 'state'), store, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Creates a database with the writer's schema and rows 1..rows, in one transaction. */
export function createDatabase(path: string, rows: number, journalMode = 'wal'): void {
  const db = new Database(path);
  try {
    db.pragma(`journal_mode = ${journalMode}`);
    db.exec(
      'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, pad BLOB); CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, n INTEGER)',
    );
    db.exec("INSERT OR IGNORE INTO meta VALUES ('n', 0)");
    const insert = db.prepare('INSERT INTO t VALUES (?, randomblob(200))');
    db.transaction(() => {
      const start = (db.prepare("SELECT n FROM meta WHERE k = 'n'").pluck().get() as number) + 1;
      for (let n = start; n < start + rows; n++) insert.run(n);
      db.prepare("UPDATE meta SET n = ? WHERE k = 'n'").run(start + rows - 1);
    })();
  } finally {
    db.close();
  }
}

/** The row state of a writer database: a consistent one has count == max == meta. */
export function readRows(path: string): { count: number; max: number; meta: number; integrity: string } {
  const db = new Database(path, { readonly: true });
  try {
    const row = db
      .prepare("SELECT count(*) AS count, coalesce(max(id), 0) AS max, (SELECT n FROM meta WHERE k = 'n') AS meta FROM t")
      .get() as { count: number; max: number; meta: number };
    return { ...row, integrity: db.pragma('integrity_check', { simple: true }) as string };
  } finally {
    db.close();
  }
}
