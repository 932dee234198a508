import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSnapshotKey } from '../../../src/format/db-keys.js';
import { applyRetention } from '../../../src/sqlite/apply-retention.js';
import { continuationBaseOf } from '../../../src/sqlite/continuation-base.js';
import { readFingerprint } from '../../../src/sqlite/db-fingerprint.js';
import { restoreDatabase } from '../../../src/sqlite/restore-database.js';
import { verifySnapshot } from '../../../src/sqlite/verify-snapshot.js';
import { WalShipper, type ContinueFrom } from '../../../src/sqlite/wal/wal-shipper.js';
import { makeScratch, type Scratch } from '../sqlite-fixtures.js';
import { openBankApp, readBankState } from './bank-app.js';

let s: Scratch;
const shippers: WalShipper[] = [];

beforeEach(async () => {
  s = await makeScratch('continuation');
});
afterEach(async () => {
  for (const shipper of shippers.splice(0)) await shipper.stop({ final: false }).catch(() => undefined);
  await s.cleanup();
});

function shipper(path: string, continueFrom?: ContinueFrom): WalShipper {
  const created = new WalShipper({ store: s.store, name: 'bank', path, stateDir: s.stateDir, ...(continueFrom ? { continueFrom } : {}) });
  shippers.push(created);
  return created;
}

/** Restores the latest state into `<dir>/<label>/bank.db` as `run` does, and what a new generation would continue from. */
async function restoreAs(label: string): Promise<{ path: string; continueFrom: ContinueFrom | undefined; chainDepth: number | undefined }> {
  const path = join(s.dir, label, 'bank.db');
  const result = await restoreDatabase({ store: s.store, name: 'bank', target: path });
  if (!result.restored) throw new Error('nothing restored');
  const next = continuationBaseOf(result);
  return { path, chainDepth: result.chainDepth, continueFrom: next && { base: next.base, fingerprint: await readFingerprint(path) } };
}

async function keysOf(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of s.store.list(prefix)) keys.push(info.key);
  return keys;
}

describe('a generation that continues a restored state (format 2)', () => {
  it('stores one manifest instead of the database, and restores through it to every later commit', async () => {
    const first = join(s.dataDir, 'bank.db');
    const app = openBankApp(first, { accounts: 200, rowBytes: 4000 });
    const ship = shipper(first);
    await ship.syncOnce();
    app.transfer(50);
    await ship.syncOnce();
    await ship.stop();
    app.close();

    // A fresh container: restore, then continue.
    const restored = await restoreAs('second');
    expect(restored.continueFrom?.base.wal).not.toBeNull();
    const putsBefore = s.store.counts.put;
    const bytesBefore = (await keysOf('db/bank/')).length;
    const second = shipper(restored.path, restored.continueFrom);
    const started = await second.syncOnce();
    expect(started.outcome === 'synced' && started.newGeneration?.reason).toBe('start');
    // One PUT: the continuation's manifest; no data object.
    expect(s.store.counts.put - putsBefore).toBe(1);
    const keys = await keysOf('db/bank/');
    expect(keys.length).toBe(bytesBefore + 1);
    const manifestKey = keys.find((k) => parseSnapshotKey(k)?.base !== undefined)!;
    expect(parseSnapshotKey(manifestKey)?.base?.generation).toBe(restored.continueFrom!.base.generation);

    const app2 = openBankApp(restored.path, { accounts: 200, rowBytes: 4000 });
    const last = app2.transfer(30);
    await second.syncOnce();
    app2.close();

    const third = await restoreAs('third');
    const state = readBankState(third.path);
    expect(state).toMatchObject({ integrity: 'ok', seq: last, sum: 200 * 1000 });
    expect(state.balances).toEqual(app2.expectedBalances(last));
    expect(third.chainDepth).toBe(1);
    await expect(verifySnapshot({ store: s.store, name: 'bank', stateDir: s.stateDir })).resolves.toMatchObject({
      transactionsApplied: 30,
    });

    // Retention: the continuation needs its base, so the base generation's snapshot and segments stay.
    await applyRetention({ store: s.store, name: 'bank', retentionMs: 0, minKeep: 1, now: new Date(Date.now() + 86_400_000) });
    const afterRetention = await restoreAs('fourth');
    expect(readBankState(afterRetention.path)).toMatchObject({ integrity: 'ok', seq: last });
  });

  it('restarts without writes do not lengthen the chain; a database written after the restore gets a full snapshot', async () => {
    const first = join(s.dataDir, 'bank.db');
    const app = openBankApp(first, { accounts: 100, rowBytes: 2000 });
    const ship = shipper(first);
    await ship.syncOnce();
    const last = app.transfer(20);
    await ship.syncOnce();
    await ship.stop();
    app.close();

    let base: string | undefined;
    for (const label of ['r1', 'r2', 'r3']) {
      const restored = await restoreAs(label);
      base ??= `${restored.continueFrom!.base.generation}/${restored.continueFrom!.base.seq}`;
      // Always the same base: the first generation's snapshot with its segments.
      expect(`${restored.continueFrom!.base.generation}/${restored.continueFrom!.base.seq}`).toBe(base);
      const idle = shipper(restored.path, restored.continueFrom);
      await idle.syncOnce();
      await idle.stop();
    }
    const again = await restoreAs('r4');
    expect(again.chainDepth).toBe(1);
    expect(readBankState(again.path)).toMatchObject({ integrity: 'ok', seq: last });

    // Written before persistd started on it: the file is no longer the restored state.
    const touched = openBankApp(again.path, { accounts: 100, rowBytes: 2000 });
    touched.transfer(1);
    touched.close();
    const putsBefore = s.store.counts.put;
    const full = shipper(again.path, again.continueFrom);
    await full.syncOnce();
    const added = (await keysOf('db/bank/')).filter((k) => /\.db\.(gz|zst)$/.test(k));
    expect(added.length).toBe(2);
    expect(s.store.counts.put - putsBefore).toBeGreaterThanOrEqual(2);
    await full.stop();
  });

  it('refuses a continuation whose base generation lost a segment it needs (never a state that did not exist)', async () => {
    const first = join(s.dataDir, 'bank.db');
    const app = openBankApp(first, { accounts: 100, rowBytes: 2000 });
    const ship = shipper(first);
    await ship.syncOnce();
    app.transfer(10);
    await ship.syncOnce();
    app.transfer(10);
    await ship.syncOnce();
    await ship.stop();
    app.close();
    const restored = await restoreAs('r1');
    const next = shipper(restored.path, restored.continueFrom);
    await next.syncOnce();
    const app2 = openBankApp(restored.path, { accounts: 100, rowBytes: 2000 });
    app2.transfer(5);
    await next.syncOnce();
    app2.close();
    await next.stop();
    // Lose the base generation's last segment.
    const segments = (await keysOf(`db/bank/gen/${restored.continueFrom!.base.generation}/wal/`)).sort();
    await s.store.delete([segments.at(-1)!]);
    await expect(restoreDatabase({ store: s.store, name: 'bank', target: join(s.dir, 'broken', 'bank.db') })).rejects.toThrow(
      /cannot restore bank from .*its base holds/,
    );
    // The older generation alone still restores, up to the lost segment, and says so.
    const older = await restoreDatabase({
      store: s.store,
      name: 'bank',
      target: join(s.dir, 'older', 'bank.db'),
      generation: restored.continueFrom!.base.generation,
    });
    expect(older.restored && readBankState(older.path)).toMatchObject({ integrity: 'ok', seq: 10 });
  });
});
