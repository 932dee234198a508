import Database from 'better-sqlite3';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { frameSize, parseWalHeader, walChecksum, WAL_HEADER_SIZE } from '../../../src/format/db-wal-frames.js';
import { readWalFrames, type WalFrames } from '../../../src/sqlite/wal/wal-reader.js';

let dir: string;
let db: Database.Database;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'persistd-wal-reader-'));
  path = join(dir, 'app.db');
  db = new Database(path);
  db.pragma('journal_mode = wal');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)');
});
afterEach(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

function commit(rows: number, pad = 100): void {
  const insert = db.prepare('INSERT INTO t (pad) VALUES (randomblob(?))');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(pad);
  })();
}

/** A copy of the live WAL (the live one disappears when the connection closes). */
async function snapshotWal(name = 'copy-wal'): Promise<string> {
  const copy = join(dir, name);
  await copyFile(`${path}-wal`, copy);
  return copy;
}

async function frames(walPath: string, from?: WalFrames['end']): Promise<WalFrames> {
  const read = await readWalFrames(walPath, from);
  expect(read.kind).toBe('frames');
  return read as WalFrames;
}

describe('readWalFrames', () => {
  it('parses the header of a WAL written by SQLite and returns every committed frame', async () => {
    for (let i = 0; i < 5; i++) commit(3);
    const read = await frames(await snapshotWal());
    expect(read.header.pageSize).toBe(db.pragma('page_size', { simple: true }));
    expect(read.commits).toBe(6); // CREATE TABLE and 5 inserts
    expect(read.stop).toBe('eof');
    expect(read.dbSize).toBe(db.pragma('page_count', { simple: true }));
    expect(read.data.length).toBe(read.end.frame * frameSize(read.header.pageSize));
    expect(WAL_HEADER_SIZE + read.data.length).toBe(read.fileSize);
  });

  it('continues from a cursor with only the new frames', async () => {
    commit(2);
    const first = await frames(await snapshotWal('a'));
    commit(2);
    commit(2);
    const second = await frames(await snapshotWal('b'), first.end);
    expect(second.commits).toBe(2);
    expect(second.start.frame).toBe(first.end.frame);
    expect(second.end.frame).toBeGreaterThan(first.end.frame);
  });

  it('leaves out a torn last frame and the transaction it belonged to', async () => {
    commit(1);
    const before = await frames(await snapshotWal('before'));
    commit(1);
    const copy = await snapshotWal();
    const full = await frames(copy);
    await truncate(copy, full.fileSize - 100);
    const torn = await frames(copy);
    expect(torn.commits).toBe(before.commits);
    expect(torn.end.frame).toBe(before.end.frame);
    expect(torn.end.checksum).toEqual(before.end.checksum);
  });

  it('stops at a frame whose page bytes do not match its checksum', async () => {
    commit(1);
    const before = await frames(await snapshotWal('before'));
    commit(1);
    const copy = await snapshotWal();
    const bytes = await readFile(copy);
    bytes[bytes.length - 10]! ^= 0xff;
    await writeFile(copy, bytes);
    const read = await frames(copy);
    expect(read.stop).toBe('invalid');
    expect(read.end.frame).toBe(before.end.frame);
  });

  it('reports a reset when the WAL restarted with new salts, and reads the new WAL from its start', async () => {
    for (let i = 0; i < 4; i++) commit(5);
    const old = await frames(await snapshotWal('old'));
    expect(db.pragma('wal_checkpoint(RESTART)')).toEqual([{ busy: 0, log: old.end.frame, checkpointed: old.end.frame }]);
    commit(1);
    const copy = await snapshotWal('new');
    const reset = await readWalFrames(copy, old.end);
    expect(reset.kind).toBe('reset');
    const fresh = await frames(copy);
    expect(fresh.header.salt1).not.toBe(old.header.salt1);
    expect(fresh.header.checkpointSeq).toBe(old.header.checkpointSeq + 1);
    expect(fresh.commits).toBe(1);
    // The rest of the file still holds the old WAL's frames: they fail the salt check.
    expect(fresh.stop).toBe('invalid');
  });

  it('reports a reset for a file truncated below the cursor, and empty for one without a header', async () => {
    commit(3);
    const copy = await snapshotWal();
    const read = await frames(copy);
    await truncate(copy, WAL_HEADER_SIZE + frameSize(read.header.pageSize));
    expect((await readWalFrames(copy, read.end)).kind).toBe('reset');
    await truncate(copy, 0);
    expect((await readWalFrames(copy, read.end)).kind).toBe('reset');
    expect((await readWalFrames(copy)).kind).toBe('empty');
    expect((await readWalFrames(join(dir, 'missing-wal'))).kind).toBe('empty');
  });

  it('verifies big-endian checksums when the magic says so', async () => {
    commit(2);
    const bytes = await readFile(await snapshotWal());
    const little = parseWalHeader(bytes)!;
    expect(little.bigEndian).toBe(false);
    // Re-encode the same WAL with the big-endian magic and checksums.
    const size = frameSize(little.pageSize);
    bytes.writeUInt32BE(0x377f0683, 0);
    let sum = walChecksum(bytes, 0, 24, true, [0, 0]);
    bytes.writeUInt32BE(sum[0], 24);
    bytes.writeUInt32BE(sum[1], 28);
    for (let offset = WAL_HEADER_SIZE; offset + size <= bytes.length; offset += size) {
      sum = walChecksum(bytes, offset, 8, true, sum);
      sum = walChecksum(bytes, offset + 24, little.pageSize, true, sum);
      bytes.writeUInt32BE(sum[0], offset + 16);
      bytes.writeUInt32BE(sum[1], offset + 20);
    }
    const copy = join(dir, 'big-wal');
    await writeFile(copy, bytes);
    const read = await frames(copy);
    expect(read.header.bigEndian).toBe(true);
    expect(read.commits).toBe(2);
    expect(read.stop).toBe('eof');
  });

  it('reads in windows at commit boundaries and grows the window for one large transaction', async () => {
    for (let i = 0; i < 10; i++) commit(1);
    commit(200, 1000);
    const copy = await snapshotWal();
    const pageSize = (await frames(copy)).header.pageSize;
    const small = await readWalFrames(copy, undefined, { maxBytes: 3 * frameSize(pageSize) });
    expect(small.kind === 'frames' && small.stop).toBe('limit');
    let cursor = (small as WalFrames).end;
    let commits = (small as WalFrames).commits;
    for (;;) {
      const next = await readWalFrames(copy, cursor, { maxBytes: 3 * frameSize(pageSize) });
      const f = next as WalFrames;
      commits += f.commits;
      cursor = f.end;
      if (f.stop === 'eof') break;
    }
    expect(commits).toBe(12);
  });
});
