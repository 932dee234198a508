import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keptDiskContinuation } from '../../../src/sqlite/kept-disk-continuation.js';
import { restoreDatabase } from '../../../src/sqlite/restore-database.js';
import { WalShipper, type ContinueFrom } from '../../../src/sqlite/wal/wal-shipper.js';
import { makeScratch, type Scratch } from '../sqlite-fixtures.js';
import { openBankApp, readBankState } from './bank-app.js';

let s: Scratch;
const shippers: WalShipper[] = [];

beforeEach(async () => {
  s = await makeScratch('kept-disk');
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

/** A first run: replicate, commit, compact, commit more, the app exits, the final stop ships everything. */
async function firstRun(path: string): Promise<number> {
  const app = openBankApp(path, { accounts: 200, rowBytes: 3000 });
  const ship = shipper(path);
  await ship.syncOnce();
  app.transfer(5);
  await ship.syncOnce();
  await ship.snapshotOnce();
  const seq = app.transfer(3);
  app.close();
  await ship.stop();
  return seq;
}

describe('a restart that kept its disk (format 2 continuation)', () => {
  it('continues the generation when the local file is exactly what the last clean stop shipped, and restores every later commit', async () => {
    const path = join(s.dataDir, 'bank.db');
    const before = await firstRun(path);
    const kept = await keptDiskContinuation({ store: s.store, name: 'bank', path, stateDir: s.stateDir });
    if (!('continueFrom' in kept)) throw new Error(`not continued: ${kept.reason}`);

    const ship = shipper(path, kept.continueFrom);
    const started = await ship.syncOnce();
    if (started.outcome !== 'synced' || started.newGeneration === undefined) throw new Error('no generation started');
    expect(started.newGeneration.kind).toBe('continuation');
    // One small manifest, not the database again.
    const stored: string[] = [];
    for await (const info of s.store.list(`db/bank/gen/${started.newGeneration.generation}/`)) stored.push(info.key);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/\.from\..+\.json$/);
    const app = openBankApp(path, { accounts: 200, rowBytes: 3000 });
    expect(app.transfer(0)).toBe(before);
    const seq = app.transfer(4);
    await ship.syncOnce();
    const restored = await restoreDatabase({ store: s.store, name: 'bank', target: join(s.dir, 'fresh', 'bank.db') });
    if (!restored.restored) throw new Error('nothing restored');
    const state = readBankState(restored.path);
    expect(state).toMatchObject({ integrity: 'ok', seq });
    expect(state.balances).toEqual(app.expectedBalances(seq));
    app.close();
  });

  it('takes a full snapshot and says why when the file changed after the stop, or when no clean stop was recorded', async () => {
    const path = join(s.dataDir, 'bank.db');
    await firstRun(path);
    const app = openBankApp(path, { accounts: 200, rowBytes: 3000 });
    app.transfer(1);
    app.close();
    expect(await keptDiskContinuation({ store: s.store, name: 'bank', path, stateDir: s.stateDir })).toEqual({
      reason: 'the database file changed since persistd stopped',
    });
    // The record describes one stop: it is gone once read.
    expect(await keptDiskContinuation({ store: s.store, name: 'bank', path, stateDir: s.stateDir })).toEqual({
      reason: 'the state directory has no record of a clean stop that shipped everything',
    });
  });

  it('does not continue a state the replica no longer holds', async () => {
    const path = join(s.dataDir, 'bank.db');
    await firstRun(path);
    const keys: string[] = [];
    for await (const info of s.store.list('db/bank/')) if (info.key.includes('/wal/')) keys.push(info.key);
    await s.store.delete(keys);
    const kept = await keptDiskContinuation({ store: s.store, name: 'bank', path, stateDir: s.stateDir });
    expect('reason' in kept && kept.reason).toMatch(/no longer holds the WAL segment ending at epoch \d+ frame \d+/);
  });
});
