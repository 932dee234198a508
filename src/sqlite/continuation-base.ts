import { parseSnapshotId } from '../format/db-keys.js';
import type { ChainTally, ContinuationBase, SnapshotManifest } from '../format/db-manifest.js';

/** Continuations a new generation may stack on a restored one before it stores a full snapshot again (each adds a replay step to every restore). */
export const MAX_CONTINUATION_DEPTH = 8;

/** What a restore installed, as `restoreDatabase` reports it. */
export interface RestoredState {
  snapshotId: string;
  manifest: SnapshotManifest;
  segmentsApplied: number;
  wal: { epoch: number; frame: number } | null;
  restoredTo: Date;
  /** Continuations the restore followed down to a full snapshot. */
  chainDepth?: number;
}

/**
 * The base a new generation continues from after this restore, and how deep its chain is; undefined
 * when it should store a full snapshot instead (the chain is deep enough). A restored continuation to
 * which no segment was applied is the same state as its own base: the new generation names that base
 * directly, so restarts without writes never lengthen the chain.
 */
export function continuationBaseOf(restored: RestoredState): { base: ContinuationBase; depth: number; chain?: ChainTally } | undefined {
  const depth = restored.chainDepth ?? 0;
  const chain = chainOf(restored.manifest);
  const withChain = chain ? { chain } : {};
  if (restored.manifest.kind === 'sqlite-continuation' && restored.segmentsApplied === 0) {
    return depth <= MAX_CONTINUATION_DEPTH ? { base: restored.manifest.base, depth, ...withChain } : undefined;
  }
  const ref = parseSnapshotId(restored.snapshotId);
  if (ref === undefined || depth + 1 > MAX_CONTINUATION_DEPTH) return undefined;
  return { base: { ...ref, wal: restored.wal, restoredTo: restored.restoredTo.toISOString() }, depth: depth + 1, ...withChain };
}

/** The chain of increments a restored point ends (undefined when it does not say: a continuation written without one). */
function chainOf(manifest: SnapshotManifest): ChainTally | undefined {
  if (manifest.kind === 'sqlite-increment') return manifest.chain;
  if (manifest.kind === 'sqlite-continuation') return manifest.chain;
  return { fullAt: manifest.createdAt, increments: 0, pageBytes: 0 };
}
