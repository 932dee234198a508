import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyRetention } from '../../../src/sqlite/apply-retention.js';
import { scanGenerations } from '../../../src/sqlite/generation-catalog.js';
import { restoreDatabase } from '../../../src/sqlite/restore-database.js';
import { WalShipper } from '../../../src/sqlite/wal/wal-shipper.js';
import type { CountingStore } from '../counting-store.js';
import { createDatabase, makeScratch, readRows, type Scratch } from '../sqlite-fixtures.js';
import { BACKENDS, segmentKeys, shipGeneration, storeFor } from './replica-fixtures.js';
import { openApp } from './wal-helpers.js';

const MINUTE = 60_000;

describe.each(BACKENDS)('retention of WAL replicas (%s)', (backend) => {
  let s: Scratch;
  let store: CountingStore;
  let close: () => void;
  let path: string;

  beforeEach(async () => {
    s = await makeScratch(`wal-retention-${backend}`);
    ({ store, close } = await storeFor(backend, s.store));
    path = join(s.dataDir, 'app.db');
  });
  afterEach(async () => {
    close();
    await s.cleanup();
  });

  const restoreRows = async (label: string): Promise<ReturnType<typeof readRows>> => {
    const target = join(s.dir, `${label}.db`);
    await restoreDatabase({ store, name: 'app', target });
    return readRows(target);
  };

  const replaceFile = async (rows: number): Promise<void> => {
    for (const suffix of ['', '-wal', '-shm']) await unlink(path + suffix).catch(() => undefined);
    createDatabase(path, rows);
  };

  it('an expired generation goes whole; the latest one loses only the segments its oldest kept snapshot holds; manifests go first', async () => {
    const old = await shipGeneration(store, { name: 'app', path, stateDir: s.stateDir, segments: 2, rowsPerSegment: 5 });
    await replaceFile(3);
    const app = openApp(path);
    const shipper = new WalShipper({ store, name: 'app', path, stateDir: s.stateDir });
    let kept: string;
    try {
      await shipper.syncOnce();
      for (let i = 0; i < 2; i++) {
        app.commit(4);
        await shipper.syncOnce();
      }
      const snap = await shipper.snapshotOnce();
      if (snap.outcome !== 'synced' || !snap.newGeneration) throw new Error('expected a snapshot');
      kept = snap.newGeneration.snapshotId;
      app.commit(4);
      await shipper.syncOnce();
    } finally {
      await shipper.stop({ final: false });
      app.close();
    }
    const young = kept.split('/')[0]!;
    const youngSegments = (await segmentKeys(store, 'app')).filter((k) => k.generation === young);
    expect(youngSegments).toHaveLength(3);
    const before = await restoreRows('before');
    expect(before).toMatchObject({ count: 15, max: 15, integrity: 'ok' });

    const batches: string[][] = [];
    const innerDelete = store.delete.bind(store);
    store.delete = (keys, options) => {
      batches.push([...keys]);
      return innerDelete(keys, options);
    };
    const result = await applyRetention({ store, name: 'app', retentionMs: 1, minKeep: 1, now: new Date(Date.now() + MINUTE) });
    expect(result.kept).toEqual([kept]);
    expect(result.deletedSnapshots).toHaveLength(2);
    expect(result.deletedSegments.sort()).toEqual([...old.segments.map((k) => k.key), youngSegments[0]!.key, youngSegments[1]!.key].sort());
    expect(result.deletedOrphans).toEqual([]);
    expect(batches[0]!.every((key) => key.endsWith('.json'))).toBe(true);
    expect(batches[0]).toHaveLength(2);

    const { generations } = await scanGenerations(store, 'app');
    expect(generations.map((g) => g.generation)).toEqual([young]);
    expect(generations[0]!.segments.map((k) => k.key)).toEqual([youngSegments[2]!.key]);
    expect(await restoreRows('after')).toEqual(before);
    // Nothing more to delete on the next run.
    const again = await applyRetention({ store, name: 'app', retentionMs: 1, minKeep: 1, now: new Date(Date.now() + MINUTE) });
    expect([again.deletedSnapshots, again.deletedSegments, again.deletedOrphans]).toEqual([[], [], []]);
  });

  it('a snapshot whose later segments are younger than the retention is kept, with its segments', async () => {
    const old = await shipGeneration(store, { name: 'app', path, stateDir: s.stateDir, segments: 3, rowsPerSegment: 2 });
    await replaceFile(1);
    const young = await shipGeneration(store, { name: 'app', path, stateDir: s.stateDir, segments: 0, rowsPerSegment: 0 });
    const last = old.segments[2]!.shippedAt.getTime();
    const { entries } = await scanGenerations(store, 'app');
    const oldSnapshot = entries.find((e) => e.generation === old.generation)!;
    expect(last - oldSnapshot.createdAt.getTime()).toBeGreaterThan(1);

    const within = await applyRetention({
      store,
      name: 'app',
      retentionMs: 10 * MINUTE,
      minKeep: 0,
      now: new Date(last + 10 * MINUTE - 1),
    });
    expect(within.kept).toContain(oldSnapshot.id);
    expect([within.deletedSnapshots, within.deletedSegments]).toEqual([[], []]);
    const target = join(s.dir, 'old.db');
    await restoreDatabase({ store, name: 'app', target, generation: old.generation });
    expect(readRows(target).count).toBe(6);

    const past = await applyRetention({ store, name: 'app', retentionMs: 10 * MINUTE, minKeep: 0, now: new Date(last + 10 * MINUTE + 1) });
    expect(past.deletedSnapshots).toEqual([oldSnapshot.id]);
    expect(past.deletedSegments.sort()).toEqual(old.segments.map((k) => k.key).sort());
    expect((await scanGenerations(store, 'app')).generations.map((g) => g.generation)).toEqual([young.generation]);
  });

  it('never deletes what the latest generation needs, even when another generation has the newest snapshot', async () => {
    // Two instances ship the same database name: A starts first, B snapshots later, A keeps shipping after that.
    const pathA = join(s.dataDir, 'a.db');
    const pathB = join(s.dataDir, 'b.db');
    const appA = openApp(pathA);
    const appB = openApp(pathB);
    const shipperA = new WalShipper({ store, name: 'app', path: pathA, stateDir: join(s.stateDir, 'a') });
    const shipperB = new WalShipper({ store, name: 'app', path: pathB, stateDir: join(s.stateDir, 'b') });
    try {
      await shipperA.syncOnce();
      await new Promise((resolve) => setTimeout(resolve, 3));
      await shipperB.syncOnce();
      await new Promise((resolve) => setTimeout(resolve, 3));
      appA.commit(7);
      expect(await shipperA.syncOnce()).toMatchObject({ segments: 1 });
    } finally {
      await shipperA.stop({ final: false });
      await shipperB.stop({ final: false });
      appA.close();
      appB.close();
    }
    const generationA = shipperA.status().generation!;
    expect(await restoreRows('before')).toMatchObject({ count: 7, integrity: 'ok' });
    const result = await applyRetention({ store, name: 'app', retentionMs: 1, minKeep: 0, now: new Date(Date.now() + MINUTE) });
    expect(result.kept).toHaveLength(2); // B's snapshot (the newest) and A's (the latest generation's newest)
    expect(result.kept.some((id) => id.startsWith(`${generationA}/`))).toBe(true);
    expect(result.deletedSegments).toEqual([]);
    expect(await restoreRows('after')).toMatchObject({ count: 7, integrity: 'ok' });
  });
});
