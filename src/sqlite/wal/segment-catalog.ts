import type { SegmentKey } from '../../format/db-wal-keys.js';
import { segmentFollows, type WalPosition } from '../../format/db-wal-position.js';

/** The segments to apply after a snapshot, in order, and why the chain ends where it does. */
export interface SegmentChain<T extends SegmentKey = SegmentKey> {
  segments: T[];
  /** `end`: no more segments; `time`: the next one was shipped after the target time; `gap`: the next one is missing. */
  stop: 'end' | 'time' | 'gap';
  /** The first segment after a gap (what a restore past the gap would have needed). */
  afterGap?: T;
}

/**
 * Picks the contiguous run of segments after `position`: each starts right after the previous one
 * (same epoch, next frame) or starts the next epoch at frame 1; a segment may straddle the position
 * (its frames up to the position are skipped). Stops before the first segment shipped after `until`.
 */
export function chainSegments<T extends SegmentKey>(all: readonly T[], position: WalPosition, until?: Date): SegmentChain<T> {
  const segments: T[] = [];
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
