// POSIX record locks belong to the process: closing any descriptor of the database file would drop
// SQLite's locks, and the app's last connection would then checkpoint and delete the WAL under
// persistd's read transaction. persistd reads the file only through descriptors it keeps open.
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFingerprint } from '../../src/sqlite/db-fingerprint.js';
import { LiveDatabase } from '../../src/sqlite/live-database.js';
import { createDatabase, makeScratch, type Scratch } from './sqlite-fixtures.js';

let s: Scratch;
let path: string;
beforeEach(async () => {
  s = await makeScratch('locks');
  path = join(s.dataDir, 'app.db');
  createDatabase(path, 10);
});
afterEach(() => s.cleanup());

/** The app: one connection that commits a row and closes (the last connection, unless persistd's still hold their locks). */
function appCommitsAndCloses(): void {
  execFileSync('python3', [
    '-c',
    'import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute("INSERT INTO t VALUES (NULL, randomblob(10))")\nc.commit()\nc.close()',
    path,
  ]);
}

describe("persistd's reads of a database file keep SQLite's locks", () => {
  it('reading the fingerprint during a read transaction: the app closing its connection leaves the WAL in place', async () => {
    const reader = new Database(path, { readonly: true });
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM t').get();
      await readFingerprint(path);
      await readFingerprint(path);
      appCommitsAndCloses();
      expect(existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0).toBe(true);
      // The read transaction still sees its state.
      expect(reader.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 10 });
    } finally {
      reader.close();
    }
  });

  it('a WAL image read and released: the same', async () => {
    const live = await LiveDatabase.open(path);
    const opened = await live!.openImage();
    expect(opened).toBeDefined();
    try {
      await opened!.image.read(Buffer.alloc(opened!.image.size), 0);
      opened!.release();
      const reader = new Database(path, { readonly: true });
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM t').get();
      appCommitsAndCloses();
      expect(existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0).toBe(true);
      reader.close();
    } finally {
      live!.close();
    }
  });
});
