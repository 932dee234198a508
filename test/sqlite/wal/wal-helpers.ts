import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { pollUntil } from '../../support/poll.js';

/** An in-process app connection with the writer schema (rows t, meta.n), in WAL mode. */
export function openApp(path: string): { db: Database.Database; commit(rows?: number): number; close(): void } {
  const db = new Database(path);
  db.pragma('journal_mode = wal');
  db.exec(
    'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, pad BLOB); CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, n INTEGER)',
  );
  db.exec("INSERT OR IGNORE INTO meta VALUES ('n', 0)");
  const insert = db.prepare('INSERT INTO t VALUES (?, randomblob(200))');
  const setN = db.prepare("UPDATE meta SET n = ? WHERE k = 'n'");
  const readN = db.prepare("SELECT n FROM meta WHERE k = 'n'").pluck();
  let n = 0;
  return {
    db,
    commit(rows = 1) {
      for (let i = 0; i < rows; i++) {
        db.transaction(() => {
          n = (readN.get() as number) + 1;
          insert.run(n);
          setN.run(n);
        })();
      }
      return n;
    },
    close: () => db.close(),
  };
}

/** The highest committed row as another connection sees it now. */
export function committedRows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT n FROM meta WHERE k = 'n'").pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Runs python3 code against a database in another process; resolves with its stdout when it exits 0. */
export function runPython(code: string, args: string[]): { done: Promise<string>; exited(): boolean } {
  const child = spawn('python3', ['-c', code, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      exited = true;
      if (code === 0) resolve(out);
      else reject(new Error(`python exited with ${code}: ${out}`));
    });
  });
  return { done, exited: () => exited };
}

/** Polls `check` until it is true or `ms` pass. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  await pollUntil('a condition of the WAL test', check, { timeoutMs: ms, intervalMs: 10 });
}
