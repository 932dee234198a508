import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PersistdError } from '../../../src/errors.js';
import type { SegmentKey } from '../../../src/format/db-wal-keys.js';
import { restoreDatabase, type RestoreOptions } from '../../../src/sqlite/restore-database.js';
import { chooseRestorePoint } from '../../../src/sqlite/restore-point.js';
import { verifySnapshot } from '../../../src/sqlite/verify-snapshot.js';
import { WalShipper } from '../../../src/sqlite/wal/wal-shipper.js';
import { PermanentStoreError } from '../../../src/store/store-errors.js';
import type { CountingStore } from '../counting-store.js';
import { createDatabase, makeScratch, readRows, type Scratch } from '../sqlite-fixtures.js';
import { BACKENDS, BreakingBodyStore, capturingLogger, corruptSegment, shipGeneration, storeFor } from './replica-fixtures.js';
import { openApp } from './wal-helpers.js';

describe.each(BACKENDS)('restoreDatabase with WAL segments (%s)', (backend) => {
  let s: Scratch;
  let store: CountingStore;
  let close: () => void;
  let path: string;

  beforeEach(async () => {
    s = await makeScratch(`pitr-${backend}`);
    ({ store, close } = await storeFor(backend, s.store));
    path = join(s.dataDir, 'app.db');
  });
  afterEach(async () => {
    close();
    await s.cleanup();
  });

  /** A generation: a snapshot of 0 rows, then three segments of 10 one-row transactions each. */
  const threeSegments = async (): Promise<{ generation: string; segments: SegmentKey[] }> =>
    shipGeneration(store, { name: 'app', path, stateDir: s.stateDir, segments: 3, rowsPerSegment: 10 });

  const restore = async (label: string, options: Partial<RestoreOptions> = {}) => {
    const target = join(s.dir, `${label}.db`);
    const result = await restoreDatabase({ store, name: 'app', target, stateDir: s.stateDir, ...options });
    if (!result.restored) throw new Error('expected a restore');
    return { result, rows: readRows(target), target };
  };

  it('restores the latest state (every segment), and the exact prefix at a time between segments', async () => {
    const {
      segments: [a, b, c],
    } = await threeSegments();
    const latest = await restore('latest');
    expect(latest.rows).toEqual({ count: 30, max: 30, meta: 30, integrity: 'ok' });
    expect(latest.result).toMatchObject({
      segmentsApplied: 3,
      transactionsApplied: 30,
      restoredTo: c!.shippedAt,
      wal: { epoch: c!.epoch, frame: c!.last },
    });
    expect(latest.result.incomplete).toBeUndefined();

    const atA = await restore('at-a', { timestamp: a!.shippedAt });
    expect(atA.rows).toEqual({ count: 10, max: 10, meta: 10, integrity: 'ok' });
    expect(atA.result).toMatchObject({
      segmentsApplied: 1,
      transactionsApplied: 10,
      restoredTo: a!.shippedAt,
      wal: { epoch: a!.epoch, frame: a!.last },
    });
    const beforeC = await restore('before-c', { timestamp: new Date(c!.shippedAt.getTime() - 1) });
    expect(beforeC.rows).toEqual({ count: 20, max: 20, meta: 20, integrity: 'ok' });
    expect(beforeC.result.restoredTo).toEqual(b!.shippedAt);
    const beforeA = await restore('before-a', { timestamp: new Date(a!.shippedAt.getTime() - 1) });
    expect(beforeA.rows.count).toBe(0);
    expect(beforeA.result).toMatchObject({ segmentsApplied: 0, wal: { epoch: a!.epoch, frame: a!.first - 1 } });
  });

  it('--snapshot restores the snapshot alone; --generation picks an older generation', async () => {
    const old = await threeSegments();
    // The file is replaced: the next shipper starts another generation with other rows.
    for (const suffix of ['', '-wal', '-shm']) await unlink(path + suffix).catch(() => undefined);
    createDatabase(path, 5);
    const young = await shipGeneration(store, { name: 'app', path, stateDir: s.stateDir, segments: 1, rowsPerSegment: 2 });
    expect(young.generation).not.toBe(old.generation);

    expect((await restore('latest')).rows).toMatchObject({ count: 7, max: 7, integrity: 'ok' });
    const older = await restore('older', { generation: old.generation });
    expect(older.rows).toMatchObject({ count: 30, max: 30, integrity: 'ok' });
    expect(older.result.snapshotId.startsWith(`${old.generation}/`)).toBe(true);
    const olderAt = await restore('older-at', { generation: old.generation, timestamp: old.segments[1]!.shippedAt });
    expect(olderAt.rows.count).toBe(20);
    // A preferred generation (the lineage pointer's) wins over the newer one.
    expect((await restore('preferred', { preferredGeneration: old.generation })).rows.count).toBe(30);

    const snapshotOnly = await restore('snapshot', { snapshotId: older.result.snapshotId });
    expect(snapshotOnly.rows.count).toBe(0);
    expect(snapshotOnly.result.segmentsApplied).toBe(0);
    await expect(restore('both', { snapshotId: older.result.snapshotId, generation: old.generation })).rejects.toMatchObject({
      kind: 'usage',
    });
    await expect(restore('unknown', { generation: '20000101T000000000Z-00000000' })).rejects.toMatchObject({ kind: 'no-backup' });
  });

  it('a corrupt segment: the latest restore stops at the transaction before it and says so; a later --timestamp fails and leaves the local file untouched', async () => {
    const {
      segments: [, b, c],
    } = await threeSegments();
    await corruptSegment(store.inner, b!.key);
    const { logger, warnings } = capturingLogger();
    const latest = await restore('latest', { logger });
    expect(latest.rows).toEqual({ count: 10, max: 10, meta: 10, integrity: 'ok' });
    expect(latest.result.incomplete).toContain(b!.key);
    expect(latest.result.segmentsApplied).toBe(1);
    expect(warnings().some((w) => w.level === 40 && String(w.reason).includes(b!.key))).toBe(true);

    const before = await readFile(latest.target);
    const err = await restoreDatabase({ store, name: 'app', target: latest.target, force: true, timestamp: c!.shippedAt }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PersistdError);
    expect(err).toMatchObject({ kind: 'integrity', message: expect.stringMatching(/cannot restore app to .*does not verify/) });
    expect((err as PersistdError).hint).toContain(`--timestamp ${latest.result.restoredTo.toISOString()}`);
    expect((await readFile(latest.target)).equals(before)).toBe(true);
    // A time before the damage is still reachable.
    expect((await restore('before-damage', { timestamp: new Date(b!.shippedAt.getTime() - 1) })).rows.count).toBe(10);
    // verify checks the whole chain of the latest generation and fails.
    await expect(verifySnapshot({ store, name: 'app', stateDir: s.stateDir })).rejects.toMatchObject({ kind: 'integrity' });
  });

  it('a missing segment: stops before the gap; a later --timestamp fails', async () => {
    const {
      segments: [a, b, c],
    } = await threeSegments();
    await store.inner.delete([b!.key]);
    const latest = await restore('latest');
    expect(latest.rows).toMatchObject({ count: 10, max: 10, meta: 10, integrity: 'ok' });
    expect(latest.result.incomplete).toMatch(/missing/);
    expect(latest.result.restoredTo).toEqual(a!.shippedAt);
    await expect(restore('later', { timestamp: c!.shippedAt })).rejects.toMatchObject({
      kind: 'integrity',
      message: expect.stringMatching(/missing/),
    });
    expect((await restore('at-a', { timestamp: a!.shippedAt })).rows.count).toBe(10);
  });

  it('a body that breaks off is fetched again for that segment alone; an unreadable store fails the restore (storage)', async () => {
    const {
      segments: [a, b, c],
    } = await threeSegments();
    const breaking = new BreakingBodyStore(store, [b!.key]);
    const target = join(s.dir, 'retried.db');
    const result = await restoreDatabase({ store: breaking, name: 'app', target });
    expect(readRows(target)).toMatchObject({ count: 30, integrity: 'ok' });
    expect(result).toMatchObject({ restored: true, segmentsApplied: 3 });
    expect([breaking.gets.get(a!.key), breaking.gets.get(b!.key), breaking.gets.get(c!.key)]).toEqual([1, 2, 1]);

    const denied = new BreakingBodyStore(store, []);
    denied.get = async (key, options) => {
      if (key === c!.key) throw new PermanentStoreError(`access denied: ${key}`, { op: 'get', path: key, status: 403 });
      return BreakingBodyStore.prototype.get.call(denied, key, options);
    };
    await expect(restoreDatabase({ store: denied, name: 'app', target: join(s.dir, 'denied.db') })).rejects.toMatchObject({
      kind: 'storage',
    });
    await expect(readFile(join(s.dir, 'denied.db'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a later snapshot of the generation is the starting point; verify replays its segments', async () => {
    const path2 = path;
    const app = openApp(path2);
    const shipper = new WalShipper({ store, name: 'app', path: path2, stateDir: s.stateDir });
    try {
      await shipper.syncOnce();
      app.commit(10);
      await shipper.syncOnce();
      const snap = await shipper.snapshotOnce();
      app.commit(5);
      await shipper.syncOnce();
      const point = await chooseRestorePoint(store, 'app', {});
      expect(point?.entry.id).toBe(snap.outcome === 'synced' ? snap.newGeneration?.snapshotId : undefined);
    } finally {
      await shipper.stop({ final: false });
      app.close();
    }
    const latest = await restore('compacted');
    expect(latest.rows).toMatchObject({ count: 15, max: 15, integrity: 'ok' });
    expect(latest.result).toMatchObject({ segmentsApplied: 1, transactionsApplied: 5 });
    const verified = await verifySnapshot({ store, name: 'app', stateDir: s.stateDir });
    expect(verified).toMatchObject({ snapshotId: latest.result.snapshotId, segmentsApplied: 1, transactionsApplied: 5 });
    expect(verified.tables.find((t) => t.table === 't')?.rows).toBe(15);
  });

  it('keeps restoreDatabase semantics: refuses an existing file without --force, --if-not-exists keeps it', async () => {
    await threeSegments();
    const target = join(s.dir, 'exists.db');
    createDatabase(target, 3);
    await expect(restoreDatabase({ store, name: 'app', target })).rejects.toMatchObject({ kind: 'usage' });
    expect(await restoreDatabase({ store, name: 'app', target, ifNotExists: true })).toMatchObject({ restored: false, reason: 'exists' });
    expect(readRows(target).count).toBe(3);
    await restoreDatabase({ store, name: 'app', target, force: true });
    expect(readRows(target).count).toBe(30);
  });
});
