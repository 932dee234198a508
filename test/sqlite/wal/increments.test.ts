import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSnapshotKey } from '../../../src/format/db-keys.js';
import { PersistdError } from '../../../src/errors.js';
import { applyRetention } from '../../../src/sqlite/apply-retention.js';
import { continuationBaseOf } from '../../../src/sqlite/continuation-base.js';
import { readFingerprint } from '../../../src/sqlite/db-fingerprint.js';
import { restoreDatabase } from '../../../src/sqlite/restore-database.js';
import { listSnapshots } from '../../../src/sqlite/snapshot-catalog.js';
import { verifySnapshot } from '../../../src/sqlite/verify-snapshot.js';
import { WalShipper, type WalShipperOptions } from '../../../src/sqlite/wal/wal-shipper.js';
import { makeScratch, type Scratch } from '../sqlite-fixtures.js';
import { openBankApp, readBankState } from './bank-app.js';

let s: Scratch;
const shippers: WalShipper[] = [];
let restores = 0;

beforeEach(async () => {
  s = await makeScratch('increments');
});
afterEach(async () => {
  for (const shipper of shippers.splice(0)) await shipper.stop({ final: false }).catch(() => undefined);
  await s.cleanup();
});

function shipper(path: string, options: Partial<WalShipperOptions> = {}): WalShipper {
  const created = new WalShipper({ store: s.store, name: 'bank', path, stateDir: s.stateDir, ...options });
  shippers.push(created);
  return created;
}

async function restore(options: { snapshotId?: string } = {}): Promise<string> {
  const path = join(s.dir, `restored-${restores++}`, 'bank.db');
  const result = await restoreDatabase({ store: s.store, name: 'bank', target: path, ...options });
  if (!result.restored) throw new Error('nothing restored');
  return path;
}

/** Takes a compaction point and returns what it stored. */
async function compact(ship: WalShipper): Promise<{ kind: string; snapshotId: string; bytes: number }> {
  const result = await ship.snapshotOnce();
  if (result.outcome !== 'synced' || result.newGeneration === undefined) throw new Error(`no compaction point: ${JSON.stringify(result)}`);
  return result.newGeneration;
}

/** sha256 of every row of every table, in order: two databases with the same digest hold the same data. */
function contentDigest(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const hash = createHash('sha256');
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    for (const table of tables)
      for (const row of db.prepare(`SELECT * FROM "${table}" ORDER BY rowid`).raw().iterate())
        hash.update(JSON.stringify(row, (_, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v)));
    return hash.digest('hex');
  } finally {
    db.close();
  }
}

describe('incremental compaction points (format 2)', () => {
  it('store only the changed pages, and restore through the chain to the exact state of each point and of the latest commit', async () => {
    const path = join(s.dataDir, 'bank.db');
    const app = openBankApp(path, { accounts: 300, rowBytes: 3000 });
    const ship = shipper(path);
    const first = await ship.syncOnce();
    const fullBytes = first.outcome === 'synced' ? first.newGeneration!.bytes : 0;
    expect(first.outcome === 'synced' && first.newGeneration?.kind).toBe('full');

    const points: { id: string; seq: number }[] = [];
    for (let round = 0; round < 4; round++) {
      const seq = app.transfer(3);
      await ship.syncOnce();
      const point = await compact(ship);
      expect(point.kind).toBe('increment');
      // Three transfers touch at most 7 rows of ~300: a small share of a full copy.
      expect(point.bytes).toBeLessThan(fullBytes / 5);
      points.push({ id: point.snapshotId, seq });
    }
    const lastSeq = app.transfer(5);
    await ship.syncOnce();

    const latest = readBankState(await restore());
    expect(latest).toMatchObject({ integrity: 'ok', seq: lastSeq, sum: 300 * 1000 });
    expect(latest.balances).toEqual(app.expectedBalances(lastSeq));
    for (const point of points) {
      const state = readBankState(await restore({ snapshotId: point.id }));
      expect(state).toMatchObject({ integrity: 'ok', seq: point.seq });
      expect(state.balances).toEqual(app.expectedBalances(point.seq));
    }

    const listed = await listSnapshots({ store: s.store, name: 'bank' });
    expect(listed.map((l) => l.manifest.kind)).toEqual(['sqlite-snapshot', ...points.map(() => 'sqlite-increment')]);
    const last = listed.at(-1)!.manifest;
    expect(last.kind === 'sqlite-increment' && last.chain.increments).toBe(4);
    // verify rebuilds the whole chain and the segments after it.
    await expect(verifySnapshot({ store: s.store, name: 'bank', stateDir: s.stateDir })).resolves.toMatchObject({
      snapshotId: points.at(-1)!.id,
    });
    app.close();
  });

  it('restores a database that shrank and grew again between increments', async () => {
    const path = join(s.dataDir, 'bank.db');
    const app = openBankApp(path, { accounts: 200, rowBytes: 3000 });
    const ship = shipper(path, { fullSnapshotShare: 5 });
    await ship.syncOnce();
    app.db.exec('DELETE FROM acct WHERE id > 50');
    app.db.exec('VACUUM');
    await ship.syncOnce();
    expect((await compact(ship)).kind).toBe('increment');
    const shrunk = contentDigest(path);
    const shrunkPages = app.db.pragma('page_count', { simple: true }) as number;
    expect(contentDigest(await restore())).toBe(shrunk);

    const insert = app.db.prepare('INSERT INTO acct VALUES (?, 1000, randomblob(5000))');
    app.db.transaction(() => {
      for (let id = 51; id <= 120; id++) insert.run(id);
    })();
    await ship.syncOnce();
    expect((await compact(ship)).kind).toBe('increment');
    expect(app.db.pragma('page_count', { simple: true })).toBeGreaterThan(shrunkPages);
    const restored = await restore();
    expect(contentDigest(restored)).toBe(contentDigest(path));
    expect(readBankState(restored).integrity).toBe('ok');
    app.close();
  });

  it('stores the whole database again once the changed pages reach the configured share, or when full snapshots are asked for every time', async () => {
    const path = join(s.dataDir, 'bank.db');
    const app = openBankApp(path, { accounts: 100, rowBytes: 3000 });
    const ship = shipper(path, { fullSnapshotShare: 0.1 });
    await ship.syncOnce();
    app.transfer(2);
    await ship.syncOnce();
    expect((await compact(ship)).kind).toBe('increment');
    // 20 transfers touch up to 40 of ~100 pages: past a 10% share, so the point is a full snapshot.
    app.transfer(20);
    await ship.syncOnce();
    expect((await compact(ship)).kind).toBe('full');
    app.transfer(1);
    await ship.syncOnce();
    expect((await compact(ship)).kind).toBe('increment');

    const always = shipper(join(s.dataDir, 'other.db'), { name: 'other', fullSnapshotIntervalMs: 0 });
    const other = openBankApp(join(s.dataDir, 'other.db'), { accounts: 50 });
    await always.syncOnce();
    other.transfer(1);
    await always.syncOnce();
    expect((await compact(always)).kind).toBe('full');
    other.close();
    app.close();
  });

  it('retention keeps every restore point a kept increment depends on, and lets an old chain go after a full snapshot', async () => {
    const path = join(s.dataDir, 'bank.db');
    const app = openBankApp(path, { accounts: 100, rowBytes: 3000 });
    const ship = shipper(path, { fullSnapshotShare: 1 });
    await ship.syncOnce();
    for (let i = 0; i < 3; i++) {
      app.transfer(1);
      await ship.syncOnce();
      await compact(ship);
    }
    const later = new Date(Date.now() + 3_600_000);
    const kept = await applyRetention({ store: s.store, name: 'bank', retentionMs: 1, minKeep: 1, now: later, orphanGraceMs: 0 });
    expect(kept.deletedSnapshots).toEqual([]);
    expect(kept.kept).toHaveLength(4);
    const seq = app.transfer(1);
    await ship.syncOnce();
    expect(readBankState(await restore()).seq).toBe(seq);

    // A full snapshot: the old chain is no longer needed by the newest state.
    const full = shipper(path, { fullSnapshotIntervalMs: 0 });
    await full.syncOnce();
    await ship.stop({ final: false });
    const afterFull = await applyRetention({ store: s.store, name: 'bank', retentionMs: 1, minKeep: 1, now: later, orphanGraceMs: 0 });
    expect(afterFull.deletedSnapshots).toHaveLength(4);
    const keys: string[] = [];
    for await (const info of s.store.list('db/bank/')) keys.push(info.key);
    expect(keys.filter((k) => parseSnapshotKey(k)?.point === 'increment')).toEqual([]);
    expect(readBankState(await restore()).seq).toBe(seq);
    app.close();
  });

  it('refuses to restore through a chain with a missing increment, and still restores the points before it', async () => {
    const path = join(s.dataDir, 'bank.db');
    const app = openBankApp(path, { accounts: 100, rowBytes: 3000 });
    const ship = shipper(path, { fullSnapshotShare: 1 });
    await ship.syncOnce();
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) {
      seqs.push(app.transfer(2));
      await ship.syncOnce();
      ids.push((await compact(ship)).snapshotId);
    }
    const [generation, seq] = ids[1]!.split('/');
    await s.store.delete([`db/bank/gen/${generation}/snap/${seq}.pages.gz`]);
    const error = await restore().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PersistdError);
    expect((error as PersistdError).kind).toBe('integrity');
    expect((error as Error).message).toContain(ids[1]);
    expect(readBankState(await restore({ snapshotId: ids[0] })).seq).toBe(seqs[0]);
    app.close();
  });

  it('a generation that continues a restored increment carries its chain on, so restarts do not reset the full-snapshot limits', async () => {
    const path = join(s.dataDir, 'bank.db');
    const app = openBankApp(path, { accounts: 100, rowBytes: 3000 });
    const ship = shipper(path);
    await ship.syncOnce();
    for (let i = 0; i < 2; i++) {
      app.transfer(1);
      await ship.syncOnce();
      expect((await compact(ship)).kind).toBe('increment');
    }
    await ship.stop();
    app.close();
    const before = (await listSnapshots({ store: s.store, name: 'bank' })).at(-1)!.manifest;
    if (before.kind !== 'sqlite-increment') throw new Error('expected an increment');

    // A fresh container: restore the increment, continue it, write, compact.
    const target = join(s.dir, 'second', 'bank.db');
    const restored = await restoreDatabase({ store: s.store, name: 'bank', target });
    if (!restored.restored) throw new Error('nothing restored');
    const next = continuationBaseOf(restored)!;
    expect(next.chain).toEqual(before.chain);
    const second = shipper(target, { continueFrom: { base: next.base, chain: next.chain!, fingerprint: await readFingerprint(target) } });
    const started = await second.syncOnce();
    expect(started.outcome === 'synced' && started.newGeneration?.kind).toBe('continuation');
    const app2 = openBankApp(target, { accounts: 100, rowBytes: 3000 });
    const seq = app2.transfer(1);
    await second.syncOnce();
    expect((await compact(second)).kind).toBe('increment');
    const after = (await listSnapshots({ store: s.store, name: 'bank' })).at(-1)!.manifest;
    expect(after.kind === 'sqlite-increment' && after.chain).toMatchObject({
      fullAt: before.chain.fullAt,
      increments: before.chain.increments + 1,
    });
    const state = readBankState(await restore());
    expect(state).toMatchObject({ integrity: 'ok', seq });
    expect(state.balances).toEqual(app2.expectedBalances(seq));
    app2.close();
  });

  it('retention keeps only the restore points a WAL generation needs, and every state in between still restores by replay', async () => {
    const path = join(s.dataDir, 'bank.db');
    const app = openBankApp(path, { accounts: 100, rowBytes: 3000 });
    // Full snapshots at every point: none is in another's chain, so only the ones retention needs stay.
    const ship = shipper(path, { fullSnapshotIntervalMs: 0 });
    await ship.syncOnce();
    const states: { at: Date; seq: number }[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const seq = app.transfer(2);
      await ship.syncOnce();
      states.push({ at: new Date(), seq });
      await new Promise((resolve) => setTimeout(resolve, 5));
      ids.push((await compact(ship)).snapshotId);
    }
    const all = (await listSnapshots({ store: s.store, name: 'bank' })).map((l) => l.id);
    const result = await applyRetention({ store: s.store, name: 'bank', retentionMs: 3_600_000, minKeep: 1 });
    // The oldest point starts the oldest state kept; the newest is the way to the latest one; the rest go.
    expect(result.kept).toEqual([ids.at(-1), all[0]]);
    expect(result.deletedSnapshots).toEqual([...ids.slice(0, -1)].reverse());
    for (const state of states) {
      const restored = await restoreDatabase({
        store: s.store,
        name: 'bank',
        target: join(s.dir, `pit-${state.seq}`, 'bank.db'),
        timestamp: state.at,
      });
      if (!restored.restored) throw new Error('nothing restored');
      const got = readBankState(restored.path);
      expect(got).toMatchObject({ integrity: 'ok', seq: state.seq });
      expect(got.balances).toEqual(app.expectedBalances(state.seq));
    }
    app.close();
  });
});
