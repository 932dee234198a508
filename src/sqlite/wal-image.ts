import { fstatSync, read } from 'node:fs';
import { PersistdError } from '../errors.js';
import { WAL_FRAME_HEADER_SIZE, frameSize, readFrameHeader } from '../format/db-wal-frames.js';
import { databaseFd } from './database-fd.js';
import { readWalFramesSync } from './wal/wal-reader.js';

/** Bytes of committed WAL frames an image keeps in memory at most; a longer WAL is copied with the backup API instead. */
export const MAX_OVERLAY_BYTES = 32 << 20;

/** Something a snapshot reads its bytes from, in order or not: a copy on disk, or a live image. */
export interface ChunkSource {
  /** Bytes of the database image. */
  readonly size: number;
  /** Fills `buffer` from `position` (fewer bytes only at the end of the image); the count read. */
  read(buffer: Uint8Array, position: number): Promise<number>;
}

/**
 * A WAL-mode database exactly as one read transaction sees it, read straight from the database file
 * with the pages of the committed WAL frames laid over it: no copy on disk. Built while the caller
 * holds the write lock (so no frame is appended or the WAL restarted while it is read) and its read
 * transaction is open: the frames up to the end of the WAL are then exactly the ones that transaction
 * sees, and are kept in memory. After the write lock is released, checkpoints can only copy frames the
 * transaction sees into the file (pages it takes from the overlay anyway), so every other page of the
 * file stays as it was for as long as the transaction is open.
 */
export class WalImage implements ChunkSource {
  readonly size: number;

  private constructor(
    private readonly fd: number,
    private readonly fileSize: number,
    private readonly overlay: Map<number, Buffer>,
    readonly pageSize: number,
    readonly pageCount: number,
  ) {
    this.size = pageSize * pageCount;
  }

  /**
   * Captures the image of `path` (call under the write lock, with the read transaction open, and
   * `pageCount`/`pageSize` read in it); undefined when the WAL is too long to keep in memory or does not
   * describe the transaction's database (the caller then copies with SQLite's backup API).
   */
  static capture(path: string, pageSize: number, pageCount: number): WalImage | undefined {
    const wal = readWalFramesSync(`${path}-wal`, undefined, { maxBytes: MAX_OVERLAY_BYTES });
    if (wal.kind === 'reset') return undefined;
    if (
      wal.kind === 'frames' &&
      (wal.stop === 'limit' || wal.header.pageSize !== pageSize || (wal.commits > 0 && wal.dbSize !== pageCount))
    )
      return undefined;
    return WalImage.open(path, wal.kind === 'frames' ? wal.data : Buffer.alloc(0), pageSize, pageCount);
  }

  /**
   * The image of a read transaction known to see exactly the first `at.frame` frames of the WAL whose
   * salts are `at.salt1`/`at.salt2` (the shipper's pin placed under the write lock), captured while it
   * is open: frames committed since are left out. While the transaction is open those frames stay as
   * they are (a WAL restart waits for it) and checkpoints copy no later frame into the file. Undefined
   * when the WAL no longer holds those frames, they are too long to keep in memory, or the pin is at
   * the WAL's start (its read transaction may then read the file alone, which gives no such promise).
   */
  static captureAt(
    path: string,
    pageSize: number,
    pageCount: number,
    at: { frame: number; salt1: number | null; salt2: number | null },
  ): WalImage | undefined {
    const size = frameSize(pageSize);
    if (at.frame === 0 || at.frame * size > MAX_OVERLAY_BYTES) return undefined;
    const wal = readWalFramesSync(`${path}-wal`, undefined, { maxBytes: at.frame * size });
    if (wal.kind !== 'frames' || wal.header.pageSize !== pageSize || wal.header.salt1 !== at.salt1 || wal.header.salt2 !== at.salt2)
      return undefined;
    const frames = wal.data.subarray(0, at.frame * size);
    if (frames.length !== at.frame * size) return undefined;
    // The pin's last frame ends a transaction, and the database it leaves has the transaction's page count.
    if (readFrameHeader(frames, frames.length - size).commitSize !== pageCount) return undefined;
    return WalImage.open(path, frames, pageSize, pageCount);
  }

  /** The image of the database file with `frames` (whole WAL frames, in order) laid over it. */
  private static open(path: string, frames: Buffer, pageSize: number, pageCount: number): WalImage | undefined {
    const overlay = new Map<number, Buffer>();
    const size = frameSize(pageSize);
    for (let offset = 0; offset < frames.length; offset += size) {
      const { pgno } = readFrameHeader(frames, offset);
      // Later frames of a page replace earlier ones: the newest committed version wins.
      overlay.set(pgno, frames.subarray(offset + WAL_FRAME_HEADER_SIZE, offset + size));
    }
    const fd = databaseFd(path);
    const fileSize = fstatSync(fd).size;
    // A page past the end of the file must come from the WAL, or the image would have a hole.
    for (let pgno = Math.floor(fileSize / pageSize) + 1; pgno <= pageCount; pgno++) if (!overlay.has(pgno)) return undefined;
    return new WalImage(fd, fileSize, overlay, pageSize, pageCount);
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    const length = Math.max(0, Math.min(buffer.length, this.size - position));
    if (position % this.pageSize !== 0) throw new RangeError('a WalImage is read in whole pages');
    const fromFile = Math.max(0, Math.min(length, this.fileSize - position));
    for (let done = 0; done < fromFile;) {
      const n = await new Promise<number>((resolve, reject) =>
        read(this.fd, buffer, done, fromFile - done, position + done, (err, bytes) => (err ? reject(err) : resolve(bytes))),
      );
      if (n === 0) {
        throw new PersistdError(`the database file ended at ${position + done} bytes while its image was read`, {
          kind: 'internal',
          op: 'snapshot',
          hint: 'something truncated the database during the snapshot; persistd takes another one',
        });
      }
      done += n;
    }
    const firstPage = position / this.pageSize + 1;
    for (let i = 0; i * this.pageSize < length; i++) {
      const page = this.overlay.get(firstPage + i);
      if (page !== undefined) buffer.set(page, i * this.pageSize);
    }
    return length;
  }

  /** Lets go of the image (the caller ends its read transaction); the file's descriptor stays open (`databaseFd`). */
  close(): void {
    this.overlay.clear();
  }
}
