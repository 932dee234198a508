import { generationTime } from '../../src/format/db-keys.js';
import type { ReplicaLineage } from './replica-lineage.js';

/**
 * Where a kill fell in its launch's life. Each `persistd run` starts a new generation, and a restore
 * follows the generation the lineage pointer names, which the launch takes only after its
 * generation's first snapshot is committed:
 * - `before`: no committed snapshot of the launch's generation yet; a restore gets the previous
 *   generation, so everything committed since the launch is lost (no bound applies);
 * - `unclaimed`: the first snapshot is committed but the pointer still names the previous
 *   generation; a restore still follows the previous one (no bound applies);
 * - `after`: the pointer names the launch's generation: the loss bound applies.
 */
export type KillPhase = 'before' | 'unclaimed' | 'after';

/** When a launch reached the milestones of its first generation, from persistd's log (ms since the epoch). */
export interface LaunchMilestones {
  /** First snapshot committed (`new generation started` / `snapshot stored`). */
  snapshotAt: number | undefined;
  /** The lineage pointer taken (`took the lineage pointer`). */
  pointerAt: number | undefined;
}

const SNAPSHOT_STORED = /^(snapshot stored|new generation started)$/;
const POINTER_TAKEN = /^took the lineage pointer$/;

/** The first snapshot and pointer times a launch logged (each line is written after the store confirmed the write). */
export function launchMilestones(events: ReadonlyArray<Record<string, unknown>>): LaunchMilestones {
  const firstAt = (pattern: RegExp): number | undefined => {
    const event = events.find((e) => pattern.test(String(e.msg)));
    return event === undefined ? undefined : Date.parse(String(event.time));
  };
  return { snapshotAt: firstAt(SNAPSHOT_STORED), pointerAt: firstAt(POINTER_TAKEN) };
}

/** The phase at `killAt` by the log (for kills after which persistd keeps writing: the app-only kill and its final backup). */
export function phaseFromLog(milestones: LaunchMilestones, killAt: number): KillPhase {
  if (milestones.pointerAt !== undefined && milestones.pointerAt <= killAt) return 'after';
  if (milestones.snapshotAt !== undefined && milestones.snapshotAt <= killAt) return 'unclaimed';
  return 'before';
}

/**
 * The phase by the replica as persistd left it when it was killed: the pointer was written by this
 * launch (its pid, an instance started after `spawnedAt`), or a generation started after `spawnedAt`
 * has a committed snapshot. This is what the restore sees.
 */
export function phaseFromReplica(lineage: ReplicaLineage, persistdPid: number | undefined, spawnedAt: number): KillPhase {
  const p = lineage.pointer;
  if (p !== undefined && p.pid === persistdPid && p.instanceStartedAt >= spawnedAt) return 'after';
  for (const generation of lineage.committed.keys()) {
    if ((generationTime(generation)?.getTime() ?? 0) >= spawnedAt) return 'unclaimed';
  }
  return 'before';
}
