import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSegmentKey, type SegmentKey } from '../../../src/format/db-wal-keys.js';
import { decodeSegment } from '../../../src/format/db-wal-segment.js';
import { verifySnapshot } from '../../../src/sqlite/verify-snapshot.js';
import { restorePointInTime } from '../../../src/sqlite/wal/restore-point-in-time.js';
import { WalShipper } from '../../../src/sqlite/wal/wal-shipper.js';
import type { ObjectStore } from '../../../src/store/object-store.js';
import { S3Store } from '../../../src/store/s3-store.js';
import { createTestBucket, testS3 } from '../../support/test-s3.js';
import { makeScratch, type Scratch } from '../sqlite-fixtures.js';
import { openBankApp, readBankState } from './bank-app.js';

const gunzipAsync = promisify(gunzip);

let s: Scratch;
let path: string;
let s3: S3Store | undefined;
const shippers: WalShipper[] = [];

beforeAll(async () => {
  const config = testS3();
  s3 = new S3Store({
    bucket: await createTestBucket('wal-burst'),
    prefix: `p-${randomBytes(3).toString('hex')}/`,
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
  });
});
afterAll(() => s3?.destroy());
beforeEach(async () => {
  s = await makeScratch('wal-burst');
  path = join(s.dataDir, 'bank.db');
});
afterEach(async () => {
  for (const shipper of shippers.splice(0)) await shipper.stop({ final: false }).catch(() => undefined);
  await s.cleanup();
});

const stores: { label: string; store: () => ObjectStore; name: () => string }[] = [
  { label: 'file://', store: () => s.store, name: () => 'bank' },
  // One S3 prefix for the file: each test uses its own database name in it.
  { label: 's3', store: () => s3!, name: () => `bank-${randomBytes(3).toString('hex')}` },
];

function shipper(store: ObjectStore, name: string, options: Partial<ConstructorParameters<typeof WalShipper>[0]> = {}): WalShipper {
  const created = new WalShipper({ store, name, path, stateDir: s.stateDir, ...options });
  shippers.push(created);
  return created;
}

async function restore(store: ObjectStore, name: string, label: string, timestamp?: Date) {
  const out = join(s.dir, `restored-${label}.db`);
  const result = await restorePointInTime({ store, name, path: out, timestamp });
  return { ...readBankState(out), incomplete: result.incomplete };
}

async function segmentKeys(store: ObjectStore, name: string): Promise<SegmentKey[]> {
  const keys: SegmentKey[] = [];
  for await (const info of store.list(`db/${name}/`)) {
    const key = parseSegmentKey(info.key);
    if (key) keys.push(key);
  }
  return keys;
}

async function readSegment(store: ObjectStore, key: SegmentKey) {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key.key)) chunks.push(chunk as Buffer);
  return decodeSegment(await gunzipAsync(Buffer.concat(chunks)), key);
}

describe.each(stores)('WAL shipping under write bursts ($label)', ({ store: storeOf, name: nameOf }) => {
  for (const pageSize of [4096, 16384]) {
    it(
      `never skips frames when bursts are many reads long; every restore is a state the app committed (page size ${pageSize})`,
      { timeout: 90_000 },
      async () => {
        const store = storeOf();
        const name = nameOf();
        const app = openBankApp(path, { pageSize, accounts: 200, rowBytes: 6000 });
        // The app checkpoints on its own too (wal_autocheckpoint), as apps do.
        const ship = shipper(store, name, { maxSegmentBytes: 256 << 10, checkpointFrames: 20, truncateFrames: 100_000 });
        await ship.syncOnce();
        let last = 0;
        for (let round = 0; round < 5; round++) {
          // Several MiB of WAL between two syncs: many times the read bound.
          last = app.transfer(pageSize === 4096 ? 300 : 120);
          await ship.syncOnce();
          // One commit right after persistd's checkpoint: SQLite restarts the WAL when it can.
          last = app.transfer(1);
        }
        await ship.syncOnce();
        const latest = await restore(store, name, 'latest');
        expect(latest).toMatchObject({ integrity: 'ok', sum: app.accounts * 1000, seq: last, incomplete: undefined });
        expect(latest.balances).toEqual(app.expectedBalances(last));
        expect(ship.status().generationsStarted).toBe(1);

        const keys = await segmentKeys(store, name);
        const epochs = new Set(keys.map((k) => k.epoch));
        expect(epochs.size).toBeGreaterThan(2);
        // Every new epoch's first segment says where the WAL before it ended, and that is where its segments end.
        for (const epoch of [...epochs].filter((e) => e > 0)) {
          const first = await readSegment(
            store,
            keys.find((k) => k.epoch === epoch && k.first === 1)!,
          );
          const previous = keys.filter((k) => k.epoch === epoch - 1);
          expect(first.previousEpochEnd).toBeDefined();
          // (An epoch the generation's snapshot ended has no segments: the snapshot holds it.)
          if (previous.length > 0) expect(first.previousEpochEnd?.frame).toBe(Math.max(...previous.map((k) => k.last)));
        }
        // Point in time, at five segments' times across the run: each restore is exactly a state the app committed.
        const times = [...new Set(keys.map((k) => k.shippedAt.getTime()))].sort((a, b) => a - b);
        const sampled = [0, 0.25, 0.5, 0.75, 0.95].map((f) => times[Math.floor(f * (times.length - 1))]!);
        for (const [i, time] of sampled.entries()) {
          const state = await restore(store, name, `t${i}`, new Date(time));
          expect(state.integrity).toBe('ok');
          expect(state.sum).toBe(app.accounts * 1000);
          expect(state.balances).toEqual(app.expectedBalances(state.seq));
        }
        app.close();
      },
    );
  }

  it('keeps every frame across TRUNCATE checkpoints under bursts (page size 65536)', async () => {
    const store = storeOf();
    const name = nameOf();
    const app = openBankApp(path, { pageSize: 65536, accounts: 60, rowBytes: 30_000 });
    const ship = shipper(store, name, { maxSegmentBytes: 1 << 20, checkpointFrames: 10, truncateFrames: 30 });
    await ship.syncOnce();
    let last = 0;
    for (let round = 0; round < 6; round++) {
      last = app.transfer(80);
      await ship.syncOnce();
      last = app.transfer(2);
      await ship.syncOnce();
    }
    const latest = await restore(store, name, 'latest');
    expect(latest).toMatchObject({ integrity: 'ok', sum: app.accounts * 1000, seq: last, incomplete: undefined });
    expect(latest.balances).toEqual(app.expectedBalances(last));
    expect(ship.status().checkpoints).toBeGreaterThan(0);
    app.close();
  });
});

describe('a sync far behind (more than one sync stores)', () => {
  it('stores a bounded amount per sync, and everything when asked to drain (the final backup)', async () => {
    const app = openBankApp(path, { pageSize: 4096, accounts: 200, rowBytes: 3000 });
    const ship = shipper(s.store, 'bank', { maxSegmentBytes: 64 << 10, checkpointFrames: 1_000_000, truncateFrames: 2_000_000 });
    await ship.syncOnce();
    // Far more than 64 reads of 64 KiB.
    const last = app.transfer(2000);
    await ship.syncOnce();
    const partial = await restore(s.store, 'bank', 'partial');
    expect(partial.seq).toBeLessThan(last);
    expect(partial.balances).toEqual(app.expectedBalances(partial.seq));
    await ship.syncOnce({ drain: true });
    const whole = await restore(s.store, 'bank', 'whole');
    expect(whole).toMatchObject({ integrity: 'ok', seq: last });
    expect(whole.balances).toEqual(app.expectedBalances(last));
    app.close();
  });
});

describe('a replica whose epoch ends short of where its WAL ended', () => {
  it('restores only up to the gap and says INCOMPLETE (format 2 segments name where the WAL before them ended)', async () => {
    const app = openBankApp(path, { pageSize: 4096, accounts: 100, rowBytes: 3000 });
    app.db.pragma('wal_checkpoint(TRUNCATE)');
    const ship = shipper(s.store, 'bank', { checkpointFrames: 150, truncateFrames: 100_000 });
    await ship.syncOnce();
    // Several syncs in epoch 0, then a checkpoint and a restart into epoch 1.
    for (let i = 0; i < 3; i++) {
      app.transfer(3);
      await ship.syncOnce();
    }
    app.transfer(100);
    await ship.syncOnce();
    let keys = await segmentKeys(s.store, 'bank');
    for (let i = 0; i < 10 && !keys.some((k) => k.epoch === 1); i++) {
      app.transfer(5);
      await ship.syncOnce();
      keys = await segmentKeys(s.store, 'bank');
    }
    expect(keys.some((k) => k.epoch === 1)).toBe(true);
    const full = await restore(s.store, 'bank', 'full');
    expect(full.incomplete).toBeUndefined();
    // Lose the last segment of epoch 0 (a lost upload, a lifecycle rule): nothing in the keys shows a gap.
    const lastOfEpoch0 = keys.filter((k) => k.epoch === 0).sort((a, b) => b.last - a.last)[0]!;
    expect(keys.filter((k) => k.epoch === 0).length).toBeGreaterThan(1);
    await rm(join(s.dir, 'store', lastOfEpoch0.key));
    const damaged = await restore(s.store, 'bank', 'damaged');
    expect(damaged.incomplete).toMatch(/frames were never shipped/);
    expect(damaged.integrity).toBe('ok');
    expect(damaged.sum).toBe(app.accounts * 1000);
    expect(damaged.balances).toEqual(app.expectedBalances(damaged.seq));
    expect(damaged.seq).toBeLessThan(full.seq);
    // verify replays the whole chain and fails on it.
    await expect(verifySnapshot({ store: s.store, name: 'bank', stateDir: s.stateDir })).rejects.toThrow(/frames were never shipped/);
    app.close();
  });
});
