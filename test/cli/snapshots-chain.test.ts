import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureReplicaMarker } from '../../src/format/replica-marker.js';
import { WalShipper } from '../../src/sqlite/wal/wal-shipper.js';
import { FsStore } from '../../src/store/fs-store.js';
import { openBankApp, readBankState } from '../sqlite/wal/bank-app.js';
import { runPersistd } from '../support/run-persistd.js';

// Runs the built CLI (`npm run build` first) on a replica whose generation has a full snapshot and two increments.
let dir: string;
let args: string[];
const ids: string[] = [];
let lastSeq = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'persistd-cli-chain-'));
  await mkdir(join(dir, 'replica'));
  await mkdir(join(dir, 'data'));
  const store = new FsStore(join(dir, 'replica'));
  await ensureReplicaMarker(store);
  const db = join(dir, 'data', 'bank.db');
  const app = openBankApp(db, { accounts: 100, rowBytes: 3000 });
  const ship = new WalShipper({ store, name: 'bank', path: db, stateDir: join(dir, 'state') });
  const first = await ship.syncOnce();
  if (first.outcome === 'synced' && first.newGeneration) ids.push(first.newGeneration.snapshotId);
  for (let i = 0; i < 2; i++) {
    app.transfer(2);
    await ship.syncOnce();
    const point = await ship.snapshotOnce();
    if (point.outcome === 'synced' && point.newGeneration) ids.push(point.newGeneration.snapshotId);
  }
  lastSeq = app.transfer(1);
  await ship.stop();
  app.close();
  args = ['--to', `file://${join(dir, 'replica')}`];
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('persistd snapshots / verify / restore through a chain of increments', () => {
  it('snapshots shows what each restore point stores and what it applies on', async () => {
    expect(ids).toHaveLength(3);
    const text = await runPersistd(['snapshots', ...args]);
    expect(text.code, text.stderr).toBe(0);
    const seqOf = (id: string): string => id.split('/')[1]!;
    expect(text.stdout).toMatch(new RegExp(`${ids[0]}.*full snapshot`));
    expect(text.stdout).toMatch(
      new RegExp(`${ids[1]}.*changed page\\(s\\) on ${seqOf(ids[0]!)} \\(increment 1 since the last full snapshot\\)`),
    );
    expect(text.stdout).toMatch(
      new RegExp(`${ids[2]}.*changed page\\(s\\) on ${seqOf(ids[1]!)} \\(increment 2 since the last full snapshot\\)`),
    );
    const json = await runPersistd(['snapshots', '--json', ...args]);
    const [entry] = JSON.parse(json.stdout) as Array<{ snapshots: Array<{ id: string; kind: string; appliesOn: string | null }> }>;
    expect(entry!.snapshots.map((s) => [s.id, s.kind, s.appliesOn])).toEqual([
      [ids[0], 'full', null],
      [ids[1], 'increment', ids[0]],
      [ids[2], 'increment', ids[1]],
    ]);
  });

  it('verify rebuilds the whole chain, and restore brings back the last commit', async () => {
    const verified = await runPersistd(['verify', ...args, '--db', `bank=${join(dir, 'data', 'bank.db')}`]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(ids[2]);
    const target = join(dir, 'out', 'bank.db');
    const restored = await runPersistd(['restore', ...args, '--db', `bank=${target}`]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(readBankState(target)).toMatchObject({ integrity: 'ok', seq: lastSeq });
  });
});
