import { assertDatabaseName } from '../../format/db-keys.js';
import { compareSegments, parseSegmentKey, segmentsPrefix, type SegmentKey } from '../../format/db-wal-keys.js';
import { segmentFollows, type WalPosition } from '../../format/db-wal-position.js';
import type { ObjectStore } from '../../store/object-store.js';
import { storageError } from '../snapshot-catalog.js';

/** Every WAL segment of a generation, in shipping order (keys that do not parse are ignored). */
export async function listSegments(store: ObjectStore, name: string, generation: string, signal?: AbortSignal): Promise<SegmentKey[]> {
  assertDatabaseName(name);
  const prefix = segmentsPrefix(name, generation);
  const segments: SegmentKey[] = [];
  try {
    for await (const info of store.list(prefix, { signal })) {
      const parsed = parseSegmentKey(info.key);
      if (parsed && parsed.name === name && parsed.generation === generation) segments.push(parsed);
    }
  } catch (err) {
    throw storageError(err, `cannot list the WAL segments of ${name} generation ${generation}`, prefix);
  }
  return segments.sort(compareSegments);
}

/** The segments to apply after a snapshot, in order, and why the chain ends where it does. */
export interface SegmentChain {
  segments: SegmentKey[];
  /** `end`: no more segments; `time`: the next one was shipped after the target time; `gap`: the next one is missing. */
  stop: 'end' | 'time' | 'gap';
  /** The first segment after a gap (what a restore past the gap would have needed). */
  afterGap?: SegmentKey;
}

/**
 * Picks the contiguous run of segments after `position`: each starts right after the previous one
 * (same epoch, next frame) or starts the next epoch at frame 1; a segment may straddle the position
 * (its frames up to the position are skipped). Stops before the first segment shipped after `until`.
 */
export function chainSegments(all: readonly SegmentKey[], position: WalPosition, until?: Date): SegmentChain {
  const segments: SegmentKey[] = [];
  let epoch = position.epoch;
  let next = position.frame + 1;
  for (const segment of all) {
    if (!segmentFollows(position, segment.epoch, segment.last)) continue;
    if (segment.epoch === epoch && segment.last < next) continue; // a duplicate of frames already covered
    const contiguous = (segment.epoch === epoch && segment.first <= next) || (segment.epoch === epoch + 1 && segment.first === 1);
    if (!contiguous) return { segments, stop: 'gap', afterGap: segment };
    if (until !== undefined && segment.shippedAt.getTime() > until.getTime()) return { segments, stop: 'time' };
    segments.push(segment);
    epoch = segment.epoch;
    next = segment.last + 1;
  }
  return { segments, stop: 'end' };
}
