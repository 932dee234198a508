import type { Logger } from 'pino';
import { snapshotId } from '../format/db-keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { MAX_CONTINUATION_DEPTH } from './continuation-base.js';
import { readFileIdentity, readFingerprint, sameIdentity } from './db-fingerprint.js';
import { scanGenerations } from './generation-catalog.js';
import type { SnapshotEntry } from './snapshot-catalog.js';
import { takeShippedState } from './wal/shipped-state.js';
import type { ContinueFrom } from './wal/wal-shipper.js';

/**
 * A restart that kept its disk (a volume, a VPS): whether the local database is exactly the state
 * the last clean stop replicated, so the new generation can continue it instead of storing it again.
 * It is when the state directory recorded that stop for this replica and path, the file is the same
 * file (identity) unchanged since (size, mtime, change counter; the shipper checks at its pin that
 * the WAL holds no frame), and the replica still holds that state (its restore point, and a segment
 * ending exactly where the record says) within the continuation depth limit. Otherwise the reason,
 * and the generation starts with a full snapshot as before. The record is consumed either way.
 */
export async function keptDiskContinuation(options: {
  store: ObjectStore;
  name: string;
  path: string;
  stateDir: string;
  signal?: AbortSignal;
}): Promise<{ continueFrom: ContinueFrom } | { reason: string }> {
  const { store, name, path } = options;
  const state = await takeShippedState(options.stateDir, name);
  if (state === undefined) return { reason: 'the state directory has no record of a clean stop that shipped everything' };
  if (state.store !== store.description || state.path !== path)
    return { reason: 'the record of the last stop is for another replica or path' };
  if (!sameIdentity(await readFileIdentity(path), state.identity))
    return { reason: 'the database file was replaced since persistd stopped' };
  const now = await readFingerprint(path);
  const then = state.fingerprint;
  if (now.size !== then.size || now.mtimeNs !== then.mtimeNs || now.changeCounter !== then.changeCounter)
    return { reason: 'the database file changed since persistd stopped' };
  const { entries, generations } = await scanGenerations(store, name, options.signal);
  const generation = generations.find((g) => g.generation === state.base.generation);
  const entry = generation?.snapshots.find((e) => e.seq === state.base.seq);
  if (generation === undefined || entry === undefined)
    return { reason: `the replica no longer holds restore point ${snapshotId(state.base.generation, state.base.seq)}` };
  const wal = state.base.wal;
  if (wal !== null && !generation.segments.some((s) => s.epoch === wal.epoch && s.last === wal.frame)) {
    return {
      reason: `the replica no longer holds the WAL segment ending at epoch ${wal.epoch} frame ${wal.frame} of generation ${state.base.generation}`,
    };
  }
  const depth = continuationDepth(entries, entry);
  if (depth === undefined) return { reason: 'a restore point the state depends on is missing from the replica' };
  if (depth + 1 > MAX_CONTINUATION_DEPTH) return { reason: `the state already continues ${depth} generation(s)` };
  return { continueFrom: { base: state.base, fingerprint: now, chain: state.chain } };
}

/** Continuations a restore of `entry` goes through, from the listing alone (undefined when a link is missing). */
function continuationDepth(entries: readonly SnapshotEntry[], entry: SnapshotEntry): number | undefined {
  const byId = new Map(entries.map((e) => [e.id, e]));
  let depth = 0;
  let current: SnapshotEntry | undefined = entry;
  for (let steps = 0; current !== undefined && current.point !== 'full'; steps++) {
    if (steps > 10_000 || current.base === undefined) return undefined;
    if (current.point === 'continuation') depth++;
    current = byId.get(snapshotId(current.base.generation, current.base.seq));
  }
  return current === undefined ? undefined : depth;
}

/** Logs the outcome of `keptDiskContinuation` the way `run` reports it. */
export function logKeptDisk(logger: Logger, name: string, outcome: { continueFrom: ContinueFrom } | { reason: string }): void {
  if ('reason' in outcome)
    logger.info(
      { db: name, reason: outcome.reason },
      'local database kept from before: not continuing the replicated generation; taking a full snapshot',
    );
  else
    logger.info(
      { db: name, continues: snapshotId(outcome.continueFrom.base.generation, outcome.continueFrom.base.seq) },
      'local database is the replicated state: continuing it without storing it again',
    );
}
