import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';
import { fileListing } from '../support/file-listing.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('persistd run with a damaged local database it did not restore', () => {
  it('refuses it (exit 1, hint), starts no app, stores nothing and keeps the pointer; moved aside, the next run restores the good copy', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'persistd-corrupt-'));
    dirs.push(dir);
    mkdirSync(path.join(dir, 'data'));
    const db = path.join(dir, 'data', 'app.db');
    const seed = new Database(db);
    seed.pragma('journal_mode = WAL');
    seed.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)');
    const insert = seed.prepare('INSERT INTO t VALUES (?, randomblob(500))');
    seed.transaction(() => {
      for (let i = 1; i <= 300; i++) insert.run(i);
    })();
    seed.close();
    const replicaDir = path.join(dir, 'replica');
    const marker = path.join(dir, 'app-started');
    const run = (state: string) =>
      runPersistd([
        'run',
        '--to',
        `file://${replicaDir}`,
        '--db',
        db,
        '--state-dir',
        path.join(dir, state),
        '--',
        process.execPath,
        '-e',
        `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`,
      ]);
    const first = await run('state1');
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
    const pointer = readFileSync(path.join(replicaDir, 'db', 'app.db', 'current.json'), 'utf8');
    const before = fileListing(replicaDir);

    // Page 5 zeroed, as a bad disk or a half-copied file leaves it.
    const fd = openSync(db, 'r+');
    writeSync(fd, Buffer.alloc(4096), 0, 4096, 4 * 4096);
    closeSync(fd);
    const refused = await run('state2');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the local database .*app\.db is damaged/);
    expect(refused.stderr).toMatch(/hint: move it aside/);
    expect(existsSync(marker)).toBe(false);
    expect(fileListing(replicaDir)).toEqual(before);
    expect(readFileSync(path.join(replicaDir, 'db', 'app.db', 'current.json'), 'utf8')).toBe(pointer);

    renameSync(db, `${db}.damaged`);
    const again = await run('state3');
    expect(again.code, again.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
    const restored = new Database(db, { readonly: true });
    expect(restored.prepare('SELECT count(*) FROM t').pluck().get()).toBe(300);
    expect(restored.pragma('integrity_check', { simple: true })).toBe('ok');
    restored.close();
  });
});
