import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { PersistdError } from '../../errors.js';
import { frameSize, readFrameHeader, WAL_FRAME_HEADER_SIZE } from '../../format/db-wal-frames.js';
import type { SegmentKey } from '../../format/db-wal-keys.js';
import type { WalPosition } from '../../format/db-wal-position.js';
import { decodeSegment, segmentEndChecksum, type WalSegment } from '../../format/db-wal-segment.js';
import type { ObjectStore } from '../../store/object-store.js';
import { StoreError } from '../../store/store-errors.js';
import { storageError } from '../snapshot-catalog.js';

const gunzipAsync = promisify(gunzip);

/** Options of `applySegments`. */
export interface ApplySegmentsOptions {
  store: ObjectStore;
  name: string;
  /** The restored snapshot's position: the first segment continues right after it. */
  position: WalPosition;
  pageSize: number;
  /** Segments downloading at once (default 6). */
  concurrency?: number;
  /** Frame bytes (uncompressed, from the keys) downloaded ahead of the one being applied at most (default 64 MiB; one segment always). */
  maxBytesAhead?: number;
  /** Tries per segment when its body breaks off while downloading (default 4); the request itself is retried by the store. */
  attempts?: number;
  signal?: AbortSignal;
}

/** How far applying got. */
export interface ApplyOutcome {
  /** Segments applied, all of them whole. */
  applied: number;
  /** Transactions applied. */
  transactions: number;
  /** The last applied segment (its `shippedAt` bounds the restored state's time), if any. */
  last: SegmentKey | undefined;
  /** Pages of the database after the last applied commit (undefined when nothing was applied). */
  pageCount: number | undefined;
  /** Why applying stopped before the end of `segments`: the segment that is missing or does not verify. */
  failure?: { segment: SegmentKey; error: PersistdError };
}

/**
 * Downloads segments in parallel (bounded in count and bytes; each retried on its own, never the
 * whole restore) and applies them in order to the database file `dbPath` as a checkpoint would:
 * each frame's page written at its place, the file cut to the database size of the last commit. A
 * segment is verified whole (sha256, salts, running checksums, continuity with the previous one)
 * before any of its pages is written, so a missing or damaged segment stops at the last whole
 * transaction before it (`failure`). A store that cannot be read (kind `storage`) throws instead:
 * an outage is not a reason to restore less.
 */
export async function applySegments(dbPath: string, segments: readonly SegmentKey[], options: ApplySegmentsOptions): Promise<ApplyOutcome> {
  const { position } = options;
  const concurrency = Math.max(1, options.concurrency ?? 6);
  const maxBytesAhead = options.maxBytesAhead ?? 64 << 20;
  const bytesOf = (key: SegmentKey): number => (key.last - key.first + 1) * frameSize(options.pageSize);
  const downloads = new Map<number, Promise<WalSegment>>();
  let nextToStart = 0;
  let bytesAhead = 0;
  const refill = (applying: number): void => {
    while (
      nextToStart < segments.length &&
      nextToStart - applying < concurrency &&
      (nextToStart === applying || bytesAhead + bytesOf(segments[nextToStart]!) <= maxBytesAhead)
    ) {
      const key = segments[nextToStart]!;
      const download = fetchSegment(key, options);
      // Awaited in order later; until then a failure must not count as unhandled.
      download.catch(() => undefined);
      downloads.set(nextToStart, download);
      bytesAhead += bytesOf(key);
      nextToStart++;
    }
  };
  refill(0);
  const handle = await open(dbPath, 'r+');
  const outcome: ApplyOutcome = { applied: 0, transactions: 0, last: undefined, pageCount: undefined };
  let previous: WalSegment | undefined;
  try {
    for (let index = 0; index < segments.length; index++) {
      const key = segments[index]!;
      refill(index);
      let segment: WalSegment;
      try {
        segment = await downloads.get(index)!;
        checkContinuity(segment, previous, key, position, options.pageSize);
      } catch (err) {
        if (options.signal?.aborted) throw err;
        const error = storageError(err, `cannot download WAL segment ${key.key}`, key.key);
        if (!(error instanceof PersistdError) || error.kind === 'storage') throw error;
        outcome.failure = { segment: key, error };
        break;
      } finally {
        downloads.delete(index);
        bytesAhead -= bytesOf(key);
      }
      const size = frameSize(segment.header.pageSize);
      // A segment may straddle the snapshot's position: its frames up to the position are in the snapshot.
      const skip = segment.epoch === position.epoch ? Math.max(0, position.frame + 1 - segment.first) : 0;
      for (let offset = skip * size; offset < segment.frames.length; offset += size) {
        const frame = readFrameHeader(segment.frames, offset);
        await handle.write(
          segment.frames,
          offset + WAL_FRAME_HEADER_SIZE,
          segment.header.pageSize,
          (frame.pgno - 1) * segment.header.pageSize,
        );
        if (frame.commitSize !== 0) {
          outcome.pageCount = frame.commitSize;
          outcome.transactions++;
        }
      }
      previous = segment;
      outcome.applied++;
      outcome.last = key;
    }
    if (outcome.pageCount !== undefined) await handle.truncate(outcome.pageCount * options.pageSize);
    await handle.sync();
  } finally {
    await handle.close();
    // Let downloads still running settle so that none rejects unobserved.
    await Promise.allSettled(downloads.values());
  }
  return outcome;
}

/**
 * Downloads and verifies one segment. The GET request is retried by the store (a RetryingStore);
 * a body that breaks off after the request succeeded is fetched again here, up to `attempts` times.
 */
async function fetchSegment(key: SegmentKey, options: ApplySegmentsOptions): Promise<WalSegment> {
  const attempts = options.attempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    const body = await options.store.get(key.key, { signal: options.signal });
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) chunks.push(chunk as Buffer);
    } catch (err) {
      const transient = err instanceof StoreError ? err.transient : !(err instanceof PersistdError);
      if (!transient || attempt >= attempts || options.signal?.aborted) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1)));
      continue;
    }
    let raw: Buffer;
    try {
      raw = await gunzipAsync(Buffer.concat(chunks));
    } catch (err) {
      throw new PersistdError(`WAL segment ${key.key} does not verify: it is not a complete gzip stream`, {
        kind: 'integrity',
        op: 'restore',
        path: key.key,
        cause: err,
        hint: 'the segment in the store is damaged; restore to an earlier time (--timestamp) or the snapshot alone',
      });
    }
    return decodeSegment(raw, key);
  }
}

/** Checks that a segment continues the previous one (or the snapshot position) without a gap. */
function checkContinuity(
  segment: WalSegment,
  previous: WalSegment | undefined,
  key: SegmentKey,
  position: WalPosition,
  pageSize: number,
): void {
  const fail = (why: string): PersistdError =>
    new PersistdError(`WAL segment ${key.key} does not follow the one before it: ${why}`, {
      kind: 'integrity',
      op: 'restore',
      path: key.key,
      hint: 'the replica is inconsistent; restore to an earlier time (--timestamp) or the snapshot alone',
    });
  if (segment.header.pageSize !== pageSize) throw fail(`page size ${segment.header.pageSize}, the snapshot has ${pageSize}`);
  const sameWal = (a: WalSegment['header'], s1: number | null, s2: number | null): boolean => a.salt1 === s1 && a.salt2 === s2;
  const ended = segment.previousEpochEnd;
  if (previous === undefined) {
    if (segment.epoch === position.epoch && position.salt1 !== null && !sameWal(segment.header, position.salt1, position.salt2))
      throw fail('its WAL salts differ from the snapshot position');
    // The snapshot was taken at the end of the epoch before: it must hold every frame of it.
    if (ended !== undefined && segment.epoch === position.epoch + 1 && position.salt1 !== null && ended.frame !== position.frame) {
      throw fail(
        `the WAL of epoch ${position.epoch} had ${ended.frame} frames, and the snapshot holds ${position.frame} of them: frames were never shipped`,
      );
    }
    return;
  }
  if (segment.epoch === previous.epoch) {
    if (!sameWal(segment.header, previous.header.salt1, previous.header.salt2)) throw fail('its WAL salts differ within one epoch');
    const end = segmentEndChecksum(previous);
    if (segment.first === previous.first + previous.count && (segment.startChecksum[0] !== end[0] || segment.startChecksum[1] !== end[1])) {
      throw fail('its running checksum does not continue the previous segment');
    }
  } else {
    if (sameWal(segment.header, previous.header.salt1, previous.header.salt2)) throw fail('a new epoch with the salts of the previous one');
    if (ended !== undefined) {
      // Format 2: the new epoch says where SQLite restarted the WAL; the previous epoch must end exactly there.
      const last = previous.first + previous.count - 1;
      const end = segmentEndChecksum(previous);
      if (segment.epoch !== previous.epoch + 1 || last !== ended.frame || end[0] !== ended.checksum[0] || end[1] !== ended.checksum[1]) {
        throw fail(
          `epoch ${previous.epoch} was shipped up to frame ${last}, but its WAL ended at frame ${ended.frame}: frames were never shipped`,
        );
      }
    }
  }
}
