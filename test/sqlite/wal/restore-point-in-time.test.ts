import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSegmentKey, type SegmentKey } from '../../../src/format/db-wal-keys.js';
import { restorePointInTime } from '../../../src/sqlite/wal/restore-point-in-time.js';
import { WalShipper } from '../../../src/sqlite/wal/wal-shipper.js';
import { makeScratch, readRows, type Scratch } from '../sqlite-fixtures.js';
import { openApp } from './wal-helpers.js';

let s: Scratch;
let path: string;
let shipper: WalShipper;

beforeEach(async () => {
  s = await makeScratch('wal-pitr');
  path = join(s.dataDir, 'app.db');
});
afterEach(async () => {
  await shipper?.stop({ final: false }).catch(() => undefined);
  await s.cleanup();
});

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3));

/** A generation with a snapshot of 0 rows and three segments of 10 rows each; returns the segment keys in order. */
async function threeSegments(): Promise<SegmentKey[]> {
  const app = openApp(path);
  shipper = new WalShipper({ store: s.store, name: 'app', path, stateDir: s.stateDir });
  await shipper.syncOnce();
  for (let i = 0; i < 3; i++) {
    await tick();
    app.commit(10);
    await shipper.syncOnce();
  }
  app.close();
  const keys: SegmentKey[] = [];
  for await (const info of s.store.inner.list('db/app/')) {
    const parsed = parseSegmentKey(info.key);
    if (parsed) keys.push(parsed);
  }
  expect(keys).toHaveLength(3);
  return keys;
}

async function restore(label: string, options: { timestamp?: Date; generation?: string } = {}) {
  const out = join(s.dir, `${label}.db`);
  const result = await restorePointInTime({ store: s.store, name: 'app', path: out, ...options });
  return { result, rows: readRows(out) };
}

describe('restorePointInTime', () => {
  it('restores the last transaction shipped at or before a time', async () => {
    const [a, b, c] = await threeSegments();
    expect((await restore('a', { timestamp: a!.shippedAt })).rows).toMatchObject({ count: 10, meta: 10, integrity: 'ok' });
    expect((await restore('b', { timestamp: new Date(c!.shippedAt.getTime() - 1) })).rows.count).toBe(b!.shippedAt < c!.shippedAt ? 20 : 30);
    const latest = await restore('latest');
    expect(latest.rows).toMatchObject({ count: 30, max: 30, meta: 30, integrity: 'ok' });
    expect(latest.result).toMatchObject({ segmentsApplied: 3, transactionsApplied: 30 });
    expect(latest.result.incomplete).toBeUndefined();
    expect((await restore('gen', { generation: a!.generation })).rows.count).toBe(30);
  });

  it('stops at the last whole transaction before a missing segment, and fails when a later time was asked for', async () => {
    const [, b, c] = await threeSegments();
    await s.store.inner.delete([b!.key]);
    const latest = await restore('latest');
    expect(latest.rows).toMatchObject({ count: 10, max: 10, meta: 10, integrity: 'ok' });
    expect(latest.result.incomplete).toMatch(/missing/);
    await expect(restore('later', { timestamp: c!.shippedAt })).rejects.toMatchObject({ kind: 'integrity', message: expect.stringMatching(/cannot restore app to/) });
  });

  it('stops before a corrupt segment (valid gzip, damaged frame) and names it', async () => {
    const [, b, c] = await threeSegments();
    const chunks: Buffer[] = [];
    for await (const chunk of await s.store.inner.get(b!.key)) chunks.push(chunk as Buffer);
    const body = gunzipSync(Buffer.concat(chunks));
    body[200]! ^= 0xff;
    await s.store.inner.put(b!.key, gzipSync(body));
    const latest = await restore('latest');
    expect(latest.rows.count).toBe(10);
    expect(latest.result.incomplete).toContain(b!.key);
    await expect(restore('later', { timestamp: c!.shippedAt })).rejects.toMatchObject({ kind: 'integrity' });
  });

  it('uses a later snapshot of the same generation as the starting point and applies only what follows it', async () => {
    const [a] = await threeSegments();
    const app = openApp(path);
    const snap = await shipper.snapshotOnce();
    expect(snap.outcome === 'synced' && snap.newGeneration).toMatchObject({ generation: a!.generation, reason: 'requested' });
    app.commit(5);
    await shipper.syncOnce();
    app.close();
    const latest = await restore('compacted');
    expect(latest.rows).toMatchObject({ count: 35, max: 35, integrity: 'ok' });
    expect(latest.result).toMatchObject({ snapshotId: snap.outcome === 'synced' ? snap.newGeneration?.snapshotId : '', segmentsApplied: 1, transactionsApplied: 5 });
    expect(shipper.status().generationsStarted).toBe(1);
  });

  it('refuses to overwrite an existing file without force', async () => {
    await threeSegments();
    const out = join(s.dir, 'exists.db');
    openApp(out).close();
    await expect(restorePointInTime({ store: s.store, name: 'app', path: out })).rejects.toMatchObject({ kind: 'usage' });
    await restorePointInTime({ store: s.store, name: 'app', path: out, force: true });
    expect(readRows(out).count).toBe(30);
  });
});
