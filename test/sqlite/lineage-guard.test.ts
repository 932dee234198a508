import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentPointerKey } from '../../src/format/db-keys.js';
import type { LineagePointer } from '../../src/format/db-lineage.js';
import { LineageGuard, newInstanceIdentity, readLineage, type InstanceIdentity } from '../../src/sqlite/lineage-guard.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { S3Store } from '../../src/store/s3-store.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';

const GEN_A = '20261122T100000000Z-0000000a';
const GEN_B = '20261122T100100000Z-0000000b';
const GEN_A2 = '20261122T100200000Z-000000a2';

async function openBackend(backend: 'fs' | 's3', dir: string): Promise<{ store: ObjectStore; close(): void }> {
  if (backend === 'fs') return { store: new FsStore(dir), close: () => undefined };
  const s3 = testS3();
  const bucket = await createTestBucket('lineage');
  const store = new S3Store({
    bucket,
    prefix: 'app',
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    conditionalWrites: 'on',
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  return { store, close: () => store.destroy() };
}

describe.each(['fs', 's3'] as const)('lineage pointer (%s)', (backend) => {
  let dir: string;
  let store: ObjectStore;
  let close: () => void;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `persistd-lineage-${backend}-`));
    ({ store, close } = await openBackend(backend, dir));
  });
  afterEach(async () => {
    close();
    await rm(dir, { recursive: true, force: true });
  });

  const guard = (instance: InstanceIdentity, fenced: LineagePointer[] = []): LineageGuard =>
    new LineageGuard({ store, name: 'app.db', instance, onFenced: (holder) => fenced.push(holder) });

  it('the newer instance takes the pointer; the older one is fenced at its next check and can never take it back', async () => {
    const a = newInstanceIdentity(new Date(Date.now() - 60_000));
    const b = newInstanceIdentity();
    const fencedA: LineagePointer[] = [];
    const guardA = guard(a, fencedA);
    expect(await guardA.claim(GEN_A, undefined)).toBe(true);
    expect((await readLineage(store, 'app.db'))?.pointer).toMatchObject({ generation: GEN_A, instance: a.id, restoredFrom: null });
    expect(await guardA.check()).toBe('ours');

    const guardB = guard(b);
    const restoredFrom = { generation: GEN_A, wal: { epoch: 0, frame: 42 }, restoredTo: new Date().toISOString() };
    expect(await guardB.claim(GEN_B, restoredFrom)).toBe(true);
    expect((await readLineage(store, 'app.db'))?.pointer).toMatchObject({ generation: GEN_B, instance: b.id, restoredFrom });

    expect(await guardA.check()).toBe('fenced');
    expect(fencedA).toHaveLength(1);
    expect(fencedA[0]).toMatchObject({ instance: b.id, generation: GEN_B, restoredFrom });
    // A new generation of the fenced instance (a WAL reset, its final backup) never moves the pointer back.
    expect(await guardA.claim(GEN_A2, undefined)).toBe(false);
    expect(await guardA.check()).toBe('fenced');
    expect((await readLineage(store, 'app.db'))?.pointer).toMatchObject({ generation: GEN_B, instance: b.id });
    // The holder moves on to its next generation without losing the pointer.
    expect(await guardB.claim(GEN_A2.replace('a2', 'b2'), undefined)).toBe(true);
    expect(await guardB.check()).toBe('ours');
    expect(fencedA).toHaveLength(1);
  });

  it('an instance that started before the current holder is fenced at its first claim', async () => {
    const older = newInstanceIdentity(new Date(Date.now() - 60_000));
    const newer = newInstanceIdentity();
    expect(await guard(newer).claim(GEN_B, undefined)).toBe(true);
    const fenced: LineagePointer[] = [];
    const late = guard(older, fenced);
    expect(await late.claim(GEN_A, undefined)).toBe(false);
    expect(late.fenced?.instance).toBe(newer.id);
    expect(fenced).toHaveLength(1);
    expect((await readLineage(store, 'app.db'))?.pointer.instance).toBe(newer.id);
  });

  it('a pointer deleted by hand is taken again by its holder; a damaged one is a clear integrity error', async () => {
    const a = newInstanceIdentity();
    const guardA = guard(a);
    expect(await guardA.claim(GEN_A, undefined)).toBe(true);
    await store.delete([currentPointerKey('app.db')]);
    expect(await guardA.check()).toBe('ours');
    expect((await readLineage(store, 'app.db'))?.pointer).toMatchObject({ generation: GEN_A, instance: a.id });

    await store.put(currentPointerKey('app.db'), '{"kind":"lineage","format":1', { contentType: 'application/json' });
    await expect(readLineage(store, 'app.db')).rejects.toThrow(/lineage pointer db\/app\.db\/current\.json is not JSON/);
    await store.put(currentPointerKey('app.db'), JSON.stringify({ kind: 'lineage', format: 99 }));
    await expect(readLineage(store, 'app.db')).rejects.toThrow(/lineage format 99, newer than this persistd reads/);
  });

  it('claims and checks of one instance at the same moment never fence it (they run one at a time)', async () => {
    const a = newInstanceIdentity();
    const fenced: LineagePointer[] = [];
    const g = guard(a, fenced);
    expect(await Promise.all([g.claim(GEN_A, undefined), g.claim(GEN_B, undefined), g.check()])).toEqual([true, true, 'ours']);
    expect(fenced).toEqual([]);
    expect((await readLineage(store, 'app.db'))?.pointer).toMatchObject({ generation: GEN_B, instance: a.id });
  });

  it('two first claims racing: both succeed in turn, the later one holds the pointer, the other is fenced', async () => {
    const ids = [newInstanceIdentity(), newInstanceIdentity()];
    const guards = ids.map((id) => guard(id));
    const claimed = await Promise.all(guards.map((g, i) => g.claim(i === 0 ? GEN_A : GEN_B, undefined)));
    expect(claimed.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    const holder = (await readLineage(store, 'app.db'))!.pointer;
    const checks = await Promise.all(guards.map((g) => g.check()));
    const winner = ids.findIndex((id) => id.id === holder.instance);
    expect(winner).toBeGreaterThanOrEqual(0);
    expect(checks[winner]).toBe('ours');
    expect(checks[1 - winner]).toBe('fenced');
  });
});
