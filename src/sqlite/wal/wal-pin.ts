import type { Logger } from 'pino';
import { closeSync, openSync, readSync } from 'node:fs';
import { frameSize, readFrameHeader, WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, type WalHeader } from '../../format/db-wal-frames.js';
import type { WalPosition } from '../../format/db-wal-position.js';
import type { EpochEnd } from '../../format/db-wal-segment.js';
import type { SegmentSpool } from './segment-spool.js';
import type { WalConnection } from './wal-connection.js';
import { cursorAtStart, cursorOffset, readWalFramesSync, type WalCursor } from './wal-reader.js';

/** Settings of a WalPin. */
export interface WalPinOptions {
  checkpointFrames: number;
  truncateFrames: number;
  unpinAfterBlockedSyncs: number;
  maxReadBytes: number;
  /** How long a checkpoint or snapshot may wait for the write lock (default 30 ms). */
  lockWaitMs?: number;
  logger: Logger;
}

/**
 * Follows one database's WAL frame by frame and keeps the stream gap-free.
 *
 * The pin is persistd's read transaction. Once it is placed and a read of the WAL after placing it
 * saw the same WAL, every frame up to the pin has been read. While it stays placed, SQLite cannot
 * restart the WAL unless every frame up to the pin was checkpointed and nothing was appended after
 * it, so a restart seen then (new salts) continues the stream in a new
 * epoch. A restart or truncation seen while the pin was released (or before such a read) may have
 * dropped frames: `read` says `restarted` and the shipper starts a new generation.
 *
 * Snapshots and checkpoints need the pin at an exact frame: it is placed when `PRAGMA data_version`
 * shows that nobody committed between reading the WAL and pinning, or else under the write lock.
 *
 * The rule everything here keeps: the pin is never released or moved, and a WAL restart is never
 * followed, unless every committed frame up to that point was read (into the spool). Reads are
 * bounded (`maxReadBytes`); when one stops at that bound the WAL is `behind`: the frames after the
 * cursor stay safe in the pinned WAL, the shipper stores what was read and reads on, and no
 * checkpoint moves the pin until the cursor is at the end of the WAL again. Under the write lock the
 * cursor is also checked against SQLite's own count of frames in the WAL before the pin moves.
 */
export class WalPin {
  /** Which WAL of the generation the cursor is in. */
  private epoch = 0;
  /** Just after the last committed frame read (undefined: the WAL has no valid header yet). */
  private cursor: WalCursor | undefined;
  /** Set while the pin is placed and the WAL was read after placing it. */
  private pinAt: { epoch: number } | undefined;
  /** Set by a checkpoint that found frames it could not account for. */
  private mustRestart = false;
  /** Size of the WAL file at the last read. */
  private lastFileSize: number | undefined;
  private blocked = 0;
  private lastReadAt = new Date();
  /** False while the last read stopped at the read bound: committed frames wait in the WAL after the cursor. */
  private caughtUp = true;
  /** When a read first stopped at the bound with frames left after it (for lag). */
  private behindSince: Date | undefined;
  /** Where the previous epoch's WAL ended, for the first frames read in a new epoch. */
  private previousEpochEnd: EpochEnd | undefined;

  constructor(
    private readonly conn: WalConnection,
    private readonly walPath: string,
    private readonly spool: SegmentSpool,
    private readonly options: WalPinOptions,
  ) {}

  /** Whether a checkpoint found frames it could not account for: the stream cannot go on, a new generation must start. */
  get restartNeeded(): boolean {
    return this.mustRestart;
  }

  /** WAL bytes after the cursor at the last read (frames not read yet, uncommitted tails included). */
  get unreadBytes(): number {
    return this.cursor && this.lastFileSize !== undefined ? Math.max(0, this.lastFileSize - cursorOffset(this.cursor)) : 0;
  }

  /**
   * Reads all committed frames under the pin. The pin itself stays where it is (so the app's own
   * checkpoints never restart the WAL past unread frames); it is only moved by persistd's
   * checkpoints. On an idle WAL, checks that nobody waits on the pin.
   */
  readAndProbe(): 'ok' | 'restarted' {
    const before = this.cursor?.frame;
    const epoch = this.epoch;
    if (this.read() === 'restarted') return 'restarted';
    // More committed frames wait after the cursor: the caller stores these and reads on.
    if (!this.caughtUp) return 'ok';
    if (!this.conn.pinned && this.pinUnderLock(0) === 'restarted') return 'restarted';
    const idle = this.epoch === epoch && this.cursor?.frame === before;
    if (!idle || !this.conn.pinned || this.conn.tryWriteLock()) {
      this.conn.releaseWriteLock();
      if (this.conn.pinned) this.blocked = 0;
      return 'ok';
    }
    // Nothing was committed, yet someone holds the write lock sync after sync: a long transaction,
    // or a RESTART/TRUNCATE checkpoint of the app waiting for our read transaction (and blocking the
    // app's writers meanwhile). Let it through; the pin is placed again once the lock is free.
    if (++this.blocked >= this.options.unpinAfterBlockedSyncs) {
      this.options.logger.warn(
        { syncs: this.blocked },
        'another connection holds the write lock without committing; releasing the WAL pin so that it can proceed (a WAL restart now starts a new generation)',
      );
      this.conn.unpin();
      this.pinAt = undefined;
    }
    return 'ok';
  }

  /** Whether committed frames wait in the WAL after the cursor (the last read stopped at the read bound). */
  get behind(): boolean {
    return !this.caughtUp;
  }

  /** When the oldest committed frames not read yet were known to exist (undefined when caught up). */
  get unreadSince(): Date | undefined {
    return this.caughtUp ? undefined : this.behindSince;
  }

  /**
   * Pins exactly at the current end of the WAL, for a snapshot. `keepEpoch`: continue the current
   * stream; otherwise the stream starts over at epoch 0 (the frames so far are in the snapshot).
   * `sealed`: the pin was placed under the write lock, so its read transaction sees exactly the WAL's
   * frames up to `wal.frame` (a pin placed by `data_version` may also see the transaction after it).
   */
  async pinExactly(keepEpoch: boolean): Promise<{ wal: WalPosition; pinnedAt: Date; sealed: boolean } | 'behind' | undefined> {
    if (!keepEpoch) {
      this.conn.unpin();
      this.pinAt = undefined;
      this.epoch = 0;
      this.cursor = undefined;
      this.previousEpochEnd = undefined;
      this.mustRestart = false;
      this.readAll();
    }
    for (let round = 0; round < 40; round++) {
      const pinnedAt = new Date();
      let placed = this.pinUnderLock(this.options.lockWaitMs ?? 30);
      const sealed = placed === 'exact';
      // Continuing the stream: the caller stores what was read and catches up before trying again.
      if (placed === 'behind' && keepEpoch) return 'behind';
      if ((placed === 'busy' || placed === 'behind') && !keepEpoch) placed = this.pinByDataVersion();
      if (placed === 'exact') {
        // A new stream starts at the pin: frames its attempts read into the spool (under the lock, before a
        // restart) are in the snapshot, or belong to a WAL before it; none of them may be shipped.
        if (!keepEpoch) this.spool.clear();
        const header = this.cursor?.header;
        return {
          pinnedAt,
          sealed,
          wal: { epoch: this.epoch, frame: this.cursor?.frame ?? 0, salt1: header?.salt1 ?? null, salt2: header?.salt2 ?? null },
        };
      }
      if (placed === 'restarted') {
        if (keepEpoch) return undefined;
        this.cursor = undefined;
        this.readAll();
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return undefined;
  }

  /** Whether enough frames are in the WAL for a checkpoint, and every committed frame was read (the caller stored everything read before this sync). */
  checkpointDue(): boolean {
    return this.caughtUp && this.cursor !== undefined && this.cursor.frame >= this.options.checkpointFrames;
  }

  /**
   * PASSIVE checkpoint: first up to the pin (no lock; the app keeps writing), then, under the write
   * lock, the few frames since, re-pinning right after so that the next writer can restart the WAL.
   * Past `truncateFrames` a TRUNCATE follows, checked with `data_version` for commits it may have
   * swallowed. False when the lock was not free (the next sync tries again).
   */
  checkpoint(): boolean {
    if (!this.caughtUp) return false;
    this.conn.checkpoint('PASSIVE', 'locker');
    if (!this.conn.tryWriteLock(this.options.lockWaitMs ?? 30)) return false;
    let done;
    try {
      if (this.read({ underLock: true }) === 'restarted') {
        this.mustRestart = true;
        return false;
      }
      // More was committed since the last read than one read takes: keep the pin, store, and try at the next sync.
      if (!this.caughtUp) return false;
      this.conn.unpin();
      this.pinAt = undefined;
      done = this.conn.checkpoint('PASSIVE', 'reader');
      // Nobody can commit while persistd holds the write lock: SQLite's count of frames in the WAL must be where the cursor is.
      const read = this.cursor?.frame ?? 0;
      if (done.log >= 0 && done.log !== read) {
        this.options.logger.error(
          { walFrames: done.log, readFrames: read, epoch: this.epoch },
          'the WAL holds frames persistd did not read; starting a new generation instead of following it',
        );
        this.mustRestart = true;
        return false;
      }
      this.pinAt = this.conn.pin() ? { epoch: this.epoch } : undefined;
    } finally {
      this.conn.releaseWriteLock();
    }
    if (this.cursor && this.cursor.frame >= this.options.truncateFrames) this.truncate();
    return done.busy === 0;
  }

  /** Last stored position, when nothing waits in the spool. */
  shippedPosition(waiting: number): { epoch: number; frame: number } | undefined {
    return waiting === 0 ? { epoch: this.epoch, frame: this.cursor?.frame ?? 0 } : undefined;
  }

  /** Under the write lock (nobody can commit): reads to the end, then moves the pin there. */
  private pinUnderLock(waitMs: number): 'exact' | 'busy' | 'behind' | 'restarted' {
    if (!this.conn.tryWriteLock(waitMs)) return 'busy';
    try {
      if (this.read({ underLock: true }) === 'restarted') return 'restarted';
      // Frames past the read bound: moving the pin to the end would let them be checkpointed and restarted away unread.
      if (!this.caughtUp) return 'behind';
      this.conn.unpin();
      this.pinAt = undefined;
      if (!this.conn.pin()) return 'busy';
      this.pinAt = { epoch: this.epoch };
      return 'exact';
    } finally {
      this.conn.releaseWriteLock();
    }
  }

  /**
   * For a new generation only (nothing to keep continuous yet): pins without the lock and checks
   * with `PRAGMA data_version` that nobody committed between reading the WAL's end and pinning.
   */
  private pinByDataVersion(): 'exact' | 'busy' {
    this.conn.unpin();
    const before = this.conn.dataVersion();
    this.readAll();
    if (!this.conn.pin()) return 'busy';
    if (this.conn.dataVersion() !== before) return 'busy';
    // The last transaction read may be in the -wal file but not yet in the wal-index (SQLite writes
    // and syncs the frames before publishing them), so the read transaction may not see it: start the
    // stream before it. Re-applying it on a snapshot that has it rewrites the same pages.
    if (this.cursor !== undefined && this.cursor.frame > 0) this.cursor = previousCommit(this.walPath, this.cursor);
    this.pinAt = { epoch: this.epoch };
    return 'exact';
  }

  /**
   * TRUNCATE checkpoint, right after `checkpoint()` left the pin at the end of the WAL. It needs the
   * pin released, so it proves with `PRAGMA data_version` that nobody committed from before its last
   * read of the WAL until the pin is placed again on the emptied WAL; otherwise frames may have been
   * cut unread and the shipper starts a new generation.
   */
  private truncate(): void {
    if (this.read() === 'restarted') {
      this.mustRestart = true;
      return;
    }
    if (!this.caughtUp) return;
    this.conn.unpin();
    this.pinAt = undefined;
    const before = this.conn.dataVersion();
    if (this.read() === 'restarted') {
      this.mustRestart = true;
      return;
    }
    const done = this.caughtUp ? this.conn.checkpoint('TRUNCATE', 'reader') : { busy: 1 };
    if (done.busy !== 0) {
      // Not truncated (or behind): the WAL is as it was; pin again under the lock, at its end.
      if (this.pinUnderLock(this.options.lockWaitMs ?? 30) === 'restarted') this.mustRestart = true;
      return;
    }
    const pinned = this.conn.pin();
    // data_version read inside the new read transaction: unchanged means no commit from `before` to the pin.
    if (!pinned || this.conn.dataVersion() !== before) {
      this.mustRestart = true;
      return;
    }
    // Pinned on the empty WAL with every frame before it read: the next WAL continues the stream.
    this.pinAt = { epoch: this.epoch };
  }

  /**
   * Reads committed frames after the cursor into the spool, following a restart when the pin proves it
   * continues the stream. Stops once the spool holds `maxReadBytes` (or, `underLock`, once this call
   * read that much, whatever waits in the spool), leaving `behind` set when frames remain.
   */
  private read(options: { underLock?: boolean } = {}): 'ok' | 'restarted' {
    let readBytes = 0;
    for (;;) {
      const read = readWalFramesSync(this.walPath, this.cursor, { maxBytes: this.options.maxReadBytes });
      this.lastFileSize = read.fileSize;
      if (read.kind === 'empty') {
        this.caughtUp = true;
        return this.cursor === undefined || this.continues(undefined) ? 'ok' : 'restarted';
      }
      if (read.kind === 'reset') {
        if (!this.continues(read.header)) return 'restarted';
        this.caughtUp = true;
        if (read.header === undefined) return 'ok';
        // The pin proves that the restart came right after the cursor: the old WAL ended there.
        this.previousEpochEnd = this.cursor ? { frame: this.cursor.frame, checksum: this.cursor.checksum } : undefined;
        this.epoch++;
        this.cursor = cursorAtStart(read.header);
        this.pinAt = { epoch: this.epoch };
        continue;
      }
      if (this.cursor === undefined && !this.continues(undefined)) return 'restarted';
      const now = new Date();
      if (read.end.frame > read.start.frame) {
        const previousEpochEnd = read.start.frame === 0 && this.epoch > 0 ? this.previousEpochEnd : undefined;
        this.spool.push({
          epoch: this.epoch,
          start: read.start,
          end: read.end,
          data: read.data,
          commits: read.commits,
          readAt: now,
          notBefore: this.lastReadAt,
          ...(previousEpochEnd ? { previousEpochEnd } : {}),
        });
        readBytes += read.data.length;
      }
      this.lastReadAt = now;
      this.cursor = read.end;
      this.caughtUp = read.stop !== 'limit';
      if (this.caughtUp) {
        this.behindSince = undefined;
        return 'ok';
      }
      this.behindSince ??= now;
      // The rest stays in the pinned WAL until what was read is stored.
      if ((options.underLock ? readBytes : this.spool.bytes) >= this.options.maxReadBytes) return 'ok';
    }
  }

  /** Reads to the end of the WAL without shipping (the frames are in the snapshot about to be taken). */
  private readAll(): void {
    for (;;) {
      const read = readWalFramesSync(this.walPath, this.cursor, { maxBytes: this.options.maxReadBytes });
      this.lastFileSize = read.fileSize;
      if (read.kind !== 'frames') {
        this.cursor = undefined;
        if (read.kind === 'empty') {
          this.caughtUp = true;
          this.behindSince = undefined;
          return;
        }
        continue;
      }
      this.cursor = read.end;
      this.lastReadAt = new Date();
      if (read.stop !== 'limit') {
        this.caughtUp = true;
        this.behindSince = undefined;
        return;
      }
    }
  }

  /** Whether a WAL restart to `header` (or to no header yet) can follow the current position without a gap. */
  private continues(header: WalHeader | undefined): boolean {
    // The new header cannot prove how many restarts happened (SQLite draws fresh random salts, and a
    // checkpoint sequence of its own, per connection); the pin is what proves it.
    const ok =
      this.pinAt !== undefined &&
      this.pinAt.epoch === this.epoch &&
      (header === undefined ||
        this.cursor === undefined ||
        header.salt1 !== this.cursor.header.salt1 ||
        header.salt2 !== this.cursor.header.salt2);
    if (!ok) {
      this.options.logger.debug(
        { pinned: this.pinAt !== undefined, epoch: this.epoch, frame: this.cursor?.frame },
        'WAL reset that does not continue the stream',
      );
    }
    return ok;
  }
}

/** The cursor just after the commit frame before the one `cursor` ends at (the WAL's start when there is none). */
function previousCommit(walPath: string, cursor: WalCursor): WalCursor {
  const size = frameSize(cursor.header.pageSize);
  const fd = openSync(walPath, 'r');
  try {
    const head = Buffer.alloc(WAL_FRAME_HEADER_SIZE);
    for (let frame = cursor.frame - 1; frame >= 1; frame--) {
      readSync(fd, head, 0, WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE + (frame - 1) * size);
      const header = readFrameHeader(head, 0);
      if (header.commitSize !== 0) return { header: cursor.header, frame, checksum: header.checksum };
    }
    return cursorAtStart(cursor.header);
  } finally {
    closeSync(fd);
  }
}
