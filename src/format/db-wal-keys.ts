/**
 * Keys of WAL segments (docs/FORMAT.md, "WAL segments"): `db/<name>/gen/<generation>/wal/<epoch>-<first>-<last>-<time>.wal.gz`.
 * Fixed-width decimal numbers so that keys sort in shipping order.
 */
import { generationPrefix, parseTimeId, timeId } from './db-keys.js';

const SEGMENT_KEY = /^db\/([^/]+)\/gen\/([^/]+)\/wal\/(\d{10})-(\d{10})-(\d{10})-(\d{8}T\d{9}Z)\.wal\.gz$/;

/** What a segment key names. */
export interface SegmentKey {
  name: string;
  generation: string;
  /** Which WAL of the generation (0 for the one the generation's first snapshot was taken in; +1 at every WAL restart followed). */
  epoch: number;
  /** First and last frame numbers (1-based, within the epoch's WAL). */
  first: number;
  last: number;
  /** When the frames were read from the WAL: every transaction in the segment committed at or before it. */
  shippedAt: Date;
  key: string;
}

/** `db/<name>/gen/<generation>/wal/`: every segment of a generation. */
export function segmentsPrefix(name: string, generation: string): string {
  return `${generationPrefix(name, generation)}wal/`;
}

/** The key of a segment. */
export function segmentKey(name: string, generation: string, epoch: number, first: number, last: number, shippedAt: Date): string {
  return `${segmentsPrefix(name, generation)}${pad(epoch)}-${pad(first)}-${pad(last)}-${timeId(shippedAt)}.wal.gz`;
}

/** Parses a segment key; undefined for any other key. */
export function parseSegmentKey(key: string): SegmentKey | undefined {
  const m = SEGMENT_KEY.exec(key);
  if (!m) return undefined;
  const shippedAt = parseTimeId(m[6]!);
  const [epoch, first, last] = [Number(m[3]), Number(m[4]), Number(m[5])];
  if (shippedAt === undefined || first < 1 || last < first) return undefined;
  return { name: m[1]!, generation: m[2]!, epoch, first, last, shippedAt, key };
}

/** Orders segments by epoch, then first frame (the order they were shipped and must be applied in). */
export function compareSegments(a: SegmentKey, b: SegmentKey): number {
  return a.epoch - b.epoch || a.first - b.first || a.last - b.last;
}

function pad(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0 || n > 9_999_999_999) throw new RangeError(`WAL segment number out of range: ${n}`);
  return String(n).padStart(10, '0');
}
