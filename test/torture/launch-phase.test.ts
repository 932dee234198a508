import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { launchMilestones, phaseFromLog, phaseFromReplica } from '../../scripts/torture/launch-phase.js';
import { formatLossReport, percentile } from '../../scripts/torture/loss-report.js';
import { readReplicaLineage } from '../../scripts/torture/replica-lineage.js';

// How the torture tells whether a kill came before or after the launch's first snapshot became the live generation.
const SPAWNED = Date.parse('2026-11-22T12:00:00.000Z');
const OLD_GEN = '20261122T115900000Z-0badc0de';
const NEW_GEN = '20261122T120002000Z-3f9a0c1e';

let root: string | undefined;
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

function replicaWith(files: Record<string, string>): string {
  root = mkdtempSync(join(tmpdir(), 'persistd-launch-phase-'));
  for (const [key, text] of Object.entries(files)) {
    mkdirSync(join(root, key, '..'), { recursive: true });
    writeFileSync(join(root, key), text);
  }
  return root;
}

function pointer(generation: string, pid: number, instanceStartedAt: string): string {
  return JSON.stringify({
    format: 1,
    kind: 'lineage',
    database: 'app.db',
    generation,
    instance: 'ab',
    host: 'h',
    pid,
    instanceStartedAt,
    takenAt: instanceStartedAt,
  });
}

describe('launch phase', () => {
  it('reads the pointer and the committed snapshots of a file replica, ignoring data objects, segments and temp files', async () => {
    const dir = replicaWith({
      'db/app.db/current.json': pointer(OLD_GEN, 41, '2026-11-22T11:58:59.000Z'),
      [`db/app.db/gen/${OLD_GEN}/snap/20261122T115900100Z.json`]: '{}',
      [`db/app.db/gen/${OLD_GEN}/snap/20261122T115900100Z.db.gz`]: '',
      [`db/app.db/gen/${OLD_GEN}/snap/20261122T115930100Z.json`]: '{}',
      [`db/app.db/gen/${NEW_GEN}/snap/20261122T120002000Z.db.gz`]: '',
      [`db/app.db/gen/${NEW_GEN}/snap/.persistd~tmp~x`]: '',
      [`db/app.db/gen/${NEW_GEN}/wal/0000000000-0000000001-0000000003-20261122T120003000Z.wal.gz`]: '',
    });
    const lineage = await readReplicaLineage({ kind: 'fs', root: dir }, 'app.db');
    expect(lineage.pointer).toMatchObject({ generation: OLD_GEN, pid: 41 });
    expect([...lineage.committed]).toEqual([[OLD_GEN, 2]]);
    // The new launch's snapshot data is there but not its manifest: the kill came before its first snapshot.
    expect(phaseFromReplica(lineage, 42, SPAWNED)).toBe('before');
  });

  it('tells a committed first snapshot whose pointer was not taken from one the pointer names', async () => {
    const files = {
      [`db/app.db/gen/${OLD_GEN}/snap/20261122T115900100Z.json`]: '{}',
      [`db/app.db/gen/${NEW_GEN}/snap/20261122T120002000Z.json`]: '{}',
    };
    const unclaimed = await readReplicaLineage(
      { kind: 'fs', root: replicaWith({ ...files, 'db/app.db/current.json': pointer(OLD_GEN, 41, '2026-11-22T11:58:59.000Z') }) },
      'app.db',
    );
    expect(phaseFromReplica(unclaimed, 42, SPAWNED)).toBe('unclaimed');
    rmSync(root!, { recursive: true });
    const claimed = await readReplicaLineage(
      { kind: 'fs', root: replicaWith({ ...files, 'db/app.db/current.json': pointer(NEW_GEN, 42, '2026-11-22T12:00:00.900Z') }) },
      'app.db',
    );
    expect(phaseFromReplica(claimed, 42, SPAWNED)).toBe('after');
    // The same pid in a pointer written by an instance started before this launch is not this launch's.
    expect(phaseFromReplica({ ...claimed, pointer: { ...claimed.pointer!, instanceStartedAt: SPAWNED - 1 } }, 42, SPAWNED)).toBe(
      'unclaimed',
    );
  });

  it('a replica without anything is before the first snapshot', async () => {
    const lineage = await readReplicaLineage({ kind: 'fs', root: replicaWith({}) }, 'app.db');
    expect(lineage).toEqual({ pointer: undefined, committed: new Map() });
    expect(phaseFromReplica(lineage, 42, SPAWNED)).toBe('before');
  });

  it('by the log: the first snapshot and pointer lines at or before the kill', () => {
    const milestones = launchMilestones([
      { msg: 'restored', time: '2026-11-22T12:00:01.000Z' },
      { msg: 'new generation started', time: '2026-11-22T12:00:02.000Z' },
      { msg: 'took the lineage pointer', time: '2026-11-22T12:00:02.030Z' },
      { msg: 'took the lineage pointer', time: '2026-11-22T12:00:09.000Z' },
    ]);
    expect(milestones).toEqual({ snapshotAt: SPAWNED + 2000, pointerAt: SPAWNED + 2030 });
    expect(phaseFromLog(milestones, SPAWNED + 1999)).toBe('before');
    expect(phaseFromLog(milestones, SPAWNED + 2010)).toBe('unclaimed');
    expect(phaseFromLog(milestones, SPAWNED + 2030)).toBe('after');
    expect(phaseFromLog(launchMilestones([]), SPAWNED + 9000)).toBe('before');
  });

  it('reports worst and p99 per phase and the first-snapshot window', () => {
    expect(percentile([], 99)).toBeUndefined();
    expect(percentile([5, 1, 3], 50)).toBe(3);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(hundred, 99)).toBe(99);
    const lines = formatLossReport(
      {
        lossMs: { before: [1500], unclaimed: [], after: [0, 400, 900] },
        windows: [
          { appStartMs: 900, snapshotMs: 2000, pointerMs: 2030, killMs: 3000 },
          { appStartMs: 1000, snapshotMs: 800, pointerMs: 820, killMs: 2500 },
          { appStartMs: 950, snapshotMs: undefined, pointerMs: undefined, killMs: 2600 },
        ],
      },
      3000,
    );
    expect(lines).toEqual([
      "loss, persistd killed after the launch's first snapshot (bound 3000 ms): 3 kills (2 lost something), worst 900 ms, p99 900 ms, p50 400 ms",
      "loss, persistd killed before the launch's first snapshot (bound 3000 ms): 1 kills (1 lost something), worst 1500 ms, p99 1500 ms, p50 1500 ms",
      'first-snapshot window, launch -> first snapshot stored: 2 launches, p50 800 ms, p99 2000 ms, max 2000 ms',
      '  launch -> lineage pointer taken: 2 launches, p50 820 ms, p99 2030 ms, max 2030 ms',
      '  app start -> pointer taken (0 when before the app started, 1 launches): 2 launches, p50 0 ms, p99 1130 ms, max 1130 ms',
      '  no pointer logged before the kill: 1 launches, killed 2600 ms after launch',
    ]);
  });
});
