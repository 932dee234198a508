import Database from 'better-sqlite3';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LiveDatabase } from '../../src/sqlite/live-database.js';
import { WalImage } from '../../src/sqlite/wal-image.js';
import { readWalFramesSync } from '../../src/sqlite/wal/wal-reader.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import { createDatabase, makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';

let s: Scratch;
let path: string;
let writer: Database.Database;

beforeEach(async () => {
  s = await makeScratch('wal-image');
  path = join(s.dataDir, 'app.db');
  createDatabase(path, 2000);
  // The app's connection: it never checkpoints on its own, so the WAL holds what the file does not.
  writer = new Database(path);
  writer.pragma('wal_autocheckpoint = 0');
  // Checkpoints that would wait for persistd's reader answer busy at once instead.
  writer.pragma('busy_timeout = 0');
  writer.pragma('wal_checkpoint(TRUNCATE)');
});
afterEach(async () => {
  writer.close();
  await s.cleanup();
});

/** Commits `rows` more rows the way createDatabase does (rows of 200 random bytes, meta.n kept equal to max(id)). */
function commitRows(rows: number): void {
  const start = (writer.prepare("SELECT n FROM meta WHERE k = 'n'").pluck().get() as number) + 1;
  const insert = writer.prepare('INSERT INTO t VALUES (?, randomblob(200))');
  writer.transaction(() => {
    for (let n = start; n < start + rows; n++) insert.run(n);
    writer.prepare("UPDATE meta SET n = ? WHERE k = 'n'").run(start + rows - 1);
  })();
}

/** Everything of a database image but the header fields a copy may renumber (change counter, schema cookie, version-valid-for). */
function body(image: Buffer): Buffer {
  return image.subarray(100);
}

describe('WalImage (a WAL database read in place)', () => {
  it('is exactly what the read transaction sees, while the writer commits and checkpoints after it', async () => {
    commitRows(1500); // in the WAL only: pages changed and pages past the end of the file
    writer.exec('UPDATE t SET pad = randomblob(200) WHERE id % 7 = 0');
    const expectedPath = join(s.dir, 'expected.db');
    await writer.backup(expectedPath);
    const expected = await readFile(expectedPath);

    const live = await LiveDatabase.open(path);
    if (live === undefined) throw new Error('no database');
    const opened = await live.openImage();
    expect(opened).toBeDefined();
    const { image, info, release } = opened!;
    try {
      expect(info.pageCount * info.pageSize).toBe(expected.length);
      // After the image was taken: more commits, checkpoints (which may copy only what the image sees), more commits.
      commitRows(3000);
      writer.pragma('wal_checkpoint(PASSIVE)');
      writer.exec('DELETE FROM t WHERE id % 3 = 0');
      writer.pragma('wal_checkpoint(RESTART)');
      commitRows(500);
      const bytes = Buffer.alloc(image.size);
      for (let at = 0; at < image.size; at += 1 << 20) await image.read(bytes.subarray(at, at + (1 << 20)), at);
      expect(body(bytes).equals(body(expected))).toBe(true);
      const asFile = join(s.dir, 'image.db');
      await writeFile(asFile, bytes);
      expect(readRows(asFile)).toEqual({ count: 3500, max: 3500, meta: 3500, integrity: 'ok' });
    } finally {
      release();
      live.close();
    }
  });

  it('at a sealed pin: exactly the frames up to the pin, whatever was committed and checkpointed since', async () => {
    commitRows(1200);
    const expectedPath = join(s.dir, 'expected.db');
    await writer.backup(expectedPath);
    // The shipper's pin: under the write lock, a read transaction and the WAL's end.
    const locker = new Database(path);
    const reader = new Database(path, { readonly: true });
    locker.exec('BEGIN IMMEDIATE');
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
    const wal = readWalFramesSync(`${path}-wal`);
    locker.exec('ROLLBACK');
    if (wal.kind !== 'frames') throw new Error('no WAL frames');
    const at = { frame: wal.end.frame, salt1: wal.header.salt1, salt2: wal.header.salt2 };
    const pageCount = reader.pragma('page_count', { simple: true }) as number;
    try {
      commitRows(2000);
      writer.pragma('wal_checkpoint(PASSIVE)');
      commitRows(300);
      expect(WalImage.captureAt(path, 4096, pageCount, { ...at, salt1: (at.salt1 + 1) >>> 0 })).toBeUndefined();
      expect(WalImage.captureAt(path, 4096, pageCount, { ...at, frame: 0 })).toBeUndefined();
      const image = WalImage.captureAt(path, 4096, pageCount, at);
      expect(image).toBeDefined();
      const bytes = Buffer.alloc(image!.size);
      await image!.read(bytes, 0);
      image!.close();
      expect(body(bytes).equals(body(await readFile(expectedPath)))).toBe(true);
    } finally {
      reader.close();
      locker.close();
    }
  });

  it('is not used for a rollback-journal database: the snapshot copies it with the backup API', async () => {
    writer.close();
    const other = join(s.dataDir, 'journal.db');
    createDatabase(other, 100, 'delete');
    writer = new Database(other);
    const live = await LiveDatabase.open(other);
    expect(await live!.openImage()).toBeUndefined();
    live!.close();
  });

  it('gives the same snapshot as the copy on disk, and it restores', async () => {
    commitRows(700);
    const inPlace = await snapshotDatabase({ store: s.store, name: 'app', path, stateDir: s.stateDir, force: true });
    const onDisk = await snapshotDatabase({ store: s.store, name: 'app', path, stateDir: s.stateDir, force: true, copyOnDisk: true });
    if (inPlace.outcome !== 'created' || onDisk.outcome !== 'created') throw new Error('no snapshot');
    expect(inPlace.manifest.data.chunks).toBeDefined();
    const restore = async (dir: string, snapshotId: string): Promise<Buffer> => {
      const target = join(s.dir, dir, 'app.db');
      expect((await restoreDatabase({ store: s.store, name: 'app', target, snapshotId })).restored).toBe(true);
      expect(readRows(target)).toEqual({ count: 2700, max: 2700, meta: 2700, integrity: 'ok' });
      return readFile(target);
    };
    // The same bytes but for the header fields the backup API renumbers.
    expect(body(await restore('in-place', inPlace.snapshotId)).equals(body(await restore('on-disk', onDisk.snapshotId)))).toBe(true);
  });
});
