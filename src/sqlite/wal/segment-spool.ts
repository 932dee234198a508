import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { segmentKey } from '../../format/db-wal-keys.js';
import { encodeSegment, type EpochEnd } from '../../format/db-wal-segment.js';
import type { ObjectStore } from '../../store/object-store.js';
import type { ChangedPages } from './changed-pages.js';
import type { WalCursor } from './wal-reader.js';

const gzipAsync = promisify(gzip);

/** Committed frames read from the WAL and not yet stored. */
export interface PendingFrames {
  epoch: number;
  start: WalCursor;
  end: WalCursor;
  data: Buffer;
  /** Transactions (commit frames) in `data`. */
  commits: number;
  /** When the read that found them ended: they were all committed by then. */
  readAt: Date;
  /** When the read before it ended: they were committed after it (for lag). */
  notBefore: Date;
  /** On the first frames of an epoch after the first: where the previous epoch's WAL ended. */
  previousEpochEnd?: EpochEnd;
}

/** One stored segment. */
export interface StoredSegment {
  key: string;
  epoch: number;
  /** Last frame of the segment within its epoch's WAL. */
  last: number;
  frames: number;
  /** Transactions in the segment. */
  commits: number;
  bytes: number;
  /** Uncompressed frame bytes. */
  rawBytes: number;
  notBefore: Date;
}

/**
 * Frames waiting to be uploaded, in order. The WAL stays pinned until they are stored, so this is
 * only ever what was read since the last successful upload; adjacent frames of one WAL are merged
 * into one segment (one PUT per sync however many transactions), up to `maxSegmentBytes`.
 */
export class SegmentSpool {
  private readonly queue: PendingFrames[] = [];
  private pages: ChangedPages | undefined;

  constructor(private readonly options: { store: ObjectStore; name: string; gzipLevel: number; maxSegmentBytes: number }) {}

  /** Frames waiting. */
  get length(): number {
    return this.queue.length;
  }

  /** Bytes of frames waiting. */
  get bytes(): number {
    return this.queue.reduce((sum, p) => sum + p.data.length, 0);
  }

  /** The oldest waiting frames' lower bound on commit time, or undefined when nothing waits. */
  get oldestNotBefore(): Date | undefined {
    return this.queue[0]?.notBefore;
  }

  /** Records the pages of every frame pushed from now on in `pages` (for increments); `clear()` resets it. */
  trackPages(pages: ChangedPages): void {
    this.pages = pages;
  }

  /** Appends frames read from the WAL (contiguous with what was queued before, or starting a new WAL). */
  push(frames: PendingFrames): void {
    this.pages?.record(frames.data, frames.start.header.pageSize);
    const last = this.queue.at(-1);
    if (
      last &&
      last.epoch === frames.epoch &&
      last.end.frame === frames.start.frame &&
      last.data.length + frames.data.length <= this.options.maxSegmentBytes
    ) {
      this.queue[this.queue.length - 1] = {
        ...last,
        end: frames.end,
        data: Buffer.concat([last.data, frames.data]),
        commits: last.commits + frames.commits,
        readAt: frames.readAt,
      };
    } else {
      this.queue.push(frames);
    }
  }

  /** Forgets everything waiting (a new generation starts with a snapshot that holds it). */
  clear(): void {
    this.queue.length = 0;
    this.pages?.reset();
  }

  /** Uploads waiting segments in order into `generation`; stops at the first failure (which it throws), keeping the rest. */
  async flush(generation: string, signal?: AbortSignal): Promise<StoredSegment[]> {
    const stored: StoredSegment[] = [];
    while (this.queue.length > 0) {
      const p = this.queue[0]!;
      const first = p.start.frame + 1;
      const count = p.end.frame - p.start.frame;
      const body = encodeSegment({
        header: p.start.header,
        epoch: p.epoch,
        first,
        count,
        startChecksum: p.start.checksum,
        frames: p.data,
        ...(p.previousEpochEnd ? { previousEpochEnd: p.previousEpochEnd } : {}),
      });
      const compressed = await gzipAsync(body, { level: this.options.gzipLevel });
      const key = segmentKey(this.options.name, generation, p.epoch, first, p.end.frame, p.readAt);
      await this.options.store.put(key, compressed, { contentType: 'application/gzip', signal });
      this.queue.shift();
      stored.push({
        key,
        epoch: p.epoch,
        last: p.end.frame,
        frames: count,
        commits: p.commits,
        bytes: compressed.length,
        rawBytes: p.data.length,
        notBefore: p.notBefore,
      });
    }
    return stored;
  }
}
