import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PersistdError } from '../../src/errors.js';
import { inspectDatabase } from '../../src/sqlite/inspect-database.js';
import { assertSnapshotableJournalMode } from '../../src/sqlite/live-database.js';
import { listDatabaseNames, listSnapshots } from '../../src/sqlite/snapshot-catalog.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { createDatabase, makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';

let s: Scratch;
let path: string;
beforeEach(async () => {
  s = await makeScratch('lifecycle');
  path = join(s.dataDir, 'app.db');
});
afterEach(() => s.cleanup());

const snap = () => snapshotDatabase({ store: s.store, name: 'app', path, stateDir: s.stateDir });

describe('snapshotDatabase', () => {
  it('makes no request at all when nothing changed, also after a restart with the same state dir', async () => {
    createDatabase(path, 100);
    const first = await snap();
    expect(first.outcome).toBe('created');
    expect(s.store.counts.put).toBe(2);
    const requests = s.store.total();
    for (let i = 0; i < 3; i++)
      expect(await snap()).toMatchObject({ outcome: 'unchanged', snapshotId: (first as { snapshotId: string }).snapshotId });
    expect(s.store.total()).toBe(requests);
    createDatabase(path, 1);
    const second = await snap();
    expect(second.outcome).toBe('created');
    if (first.outcome !== 'created' || second.outcome !== 'created') throw new Error('unreachable');
    expect(second.manifest.generation).toBe(first.manifest.generation);
    expect(second.manifest.seq > first.manifest.seq).toBe(true);
  });

  it('does nothing for a database that does not exist yet or is empty', async () => {
    expect(await snap()).toEqual({ outcome: 'missing' });
    await writeFile(path, '');
    expect(await snap()).toEqual({ outcome: 'missing' });
    expect(s.store.total()).toBe(0);
  });

  it('starts a new generation when the database is deleted and recreated', async () => {
    createDatabase(path, 100);
    const first = await snap();
    await rm(path);
    await rm(`${path}-wal`, { force: true });
    await rm(`${path}-shm`, { force: true });
    createDatabase(path, 100);
    const second = await snap();
    if (first.outcome !== 'created' || second.outcome !== 'created') throw new Error('expected two snapshots');
    expect(second.manifest.generation).not.toBe(first.manifest.generation);
    expect(second.manifest.generation > first.manifest.generation).toBe(true);
  });

  it('writes the manifest after the data object, with checksums and SQLite facts', async () => {
    createDatabase(path, 50);
    const result = await snap();
    if (result.outcome !== 'created') throw new Error('no snapshot');
    expect(s.store.puts).toEqual([result.manifestKey.replace(/\.json$/, '.db.zst'), result.manifestKey]);
    // (format 2) zstd data: a persistd that reads only format 1 refuses the manifest instead of misreading it.
    expect(result.manifest).toMatchObject({
      format: 2,
      kind: 'sqlite-snapshot',
      database: 'app',
      db: { journalMode: 'wal', pageSize: 4096 },
    });
    expect(result.manifest.data).toMatchObject({ encoding: 'zstd', key: `${result.manifest.seq}.db.zst` });
    expect(result.manifest.db.size).toBe(result.manifest.db.pageCount * 4096);
    expect(result.manifest.createdBy).toMatch(/^persistd \d/);
  });

  it('still restores every earlier kind of snapshot (format 1 gzip, format 2 zstd without an index) beside chunked ones', async () => {
    createDatabase(path, 300);
    const old = await snapshotDatabase({ store: s.store, name: 'app', path, stateDir: s.stateDir, encoding: 'gzip' });
    if (old.outcome !== 'created') throw new Error('no snapshot');
    expect(old.manifest).toMatchObject({ format: 1, data: { encoding: 'gzip', key: `${old.manifest.seq}.db.gz` } });
    createDatabase(path, 100);
    const unindexed = await snapshotDatabase({ store: s.store, name: 'app', path, stateDir: s.stateDir, unindexed: true });
    if (unindexed.outcome !== 'created') throw new Error('no snapshot');
    expect(unindexed.manifest).toMatchObject({ format: 2, data: { encoding: 'zstd' } });
    expect(unindexed.manifest.data.chunks).toBeUndefined();
    expect(unindexed.manifest.db.sha256).toMatch(/^[0-9a-f]{64}$/);
    createDatabase(path, 100);
    const current = await snap();
    if (current.outcome !== 'created') throw new Error('no snapshot');
    expect(current.manifest.data.chunks).toBeDefined();
    const restore = async (dir: string, snapshotId?: string): Promise<string> => {
      const result = await restoreDatabase({ store: s.store, name: 'app', target: join(s.dir, dir, 'app.db'), snapshotId });
      if (!result.restored) throw new Error('nothing restored');
      return result.path;
    };
    expect(readRows(await restore('old', old.snapshotId))).toMatchObject({ count: 300, max: 300, meta: 300, integrity: 'ok' });
    expect(readRows(await restore('unindexed', unindexed.snapshotId))).toMatchObject({ count: 400, max: 400, meta: 400, integrity: 'ok' });
    expect(readRows(await restore('new'))).toMatchObject({ count: 500, max: 500, meta: 500, integrity: 'ok' });
  });

  it('removes stale temp files of a crashed snapshot on the next start', async () => {
    createDatabase(path, 10);
    const tmp = join(s.stateDir, 'tmp');
    await mkdir(tmp, { recursive: true });
    const stale = [
      'sqlite-snap-999999-0123456789abcdef.db',
      `sqlite-snap-999999-0123456789abcdef.db-journal`,
      `sqlite-snap-${process.pid}-fedcba9876543210.db`,
    ];
    for (const name of stale) await writeFile(join(tmp, name), 'x');
    await writeFile(join(tmp, 'unrelated.txt'), 'keep');
    await snap();
    expect(await readdir(tmp)).toEqual(['unrelated.txt']);
  });

  it('refuses a file that is not SQLite', async () => {
    await writeFile(path, 'hello, this is not a database at all, but it is long enough to have a header of 100 bytes '.repeat(3));
    const err = await snap().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PersistdError);
    expect((err as PersistdError).kind).toBe('usage');
    expect((err as PersistdError).message).toMatch(/not a SQLite database/);
    await expect(inspectDatabase(path)).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/not a SQLite database/) });
    expect(s.store.total()).toBe(0);
  });

  it('refuses journal modes without a journal', () => {
    expect(() => assertSnapshotableJournalMode('off', path)).toThrow(/journal_mode=OFF/);
    expect(() => assertSnapshotableJournalMode('MEMORY', path)).toThrow(/journal_mode=MEMORY/);
    expect(() => assertSnapshotableJournalMode('wal', path)).not.toThrow();
  });
});

describe('inspectDatabase, listSnapshots, listDatabaseNames', () => {
  it('describe the local file and what the store holds', async () => {
    expect(await inspectDatabase(path)).toEqual({ exists: false, isSqlite: false });
    createDatabase(path, 20);
    expect(await inspectDatabase(path)).toMatchObject({ exists: true, isSqlite: true, journalMode: 'wal', pageSize: 4096 });
    createDatabase(join(s.dataDir, 'rollback.db'), 20, 'delete');
    expect(await inspectDatabase(join(s.dataDir, 'rollback.db'))).toMatchObject({ journalMode: 'rollback' });
    await snap();
    createDatabase(path, 1);
    await snap();
    await snapshotDatabase({ store: s.store, name: 'other', path: join(s.dataDir, 'rollback.db'), stateDir: s.stateDir });
    const list = await listSnapshots({ store: s.store, name: 'app' });
    expect(list).toHaveLength(2);
    expect(list[0]!.createdAt.getTime()).toBeLessThan(list[1]!.createdAt.getTime());
    expect(list[1]!.size).toBe(list[1]!.manifest.db.size);
    expect(list[1]!.compressedSize).toBe(list[1]!.manifest.kind === 'sqlite-snapshot' ? list[1]!.manifest.data.size : -1);
    expect(await listDatabaseNames(s.store)).toEqual(['app', 'other']);
  });
});
