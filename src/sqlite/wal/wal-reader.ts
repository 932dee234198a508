import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  frameSize,
  parseWalHeader,
  readFrameHeader,
  verifyFrame,
  WAL_HEADER_SIZE,
  type WalChecksum,
  type WalHeader,
} from '../../format/db-wal-frames.js';

/** A position in one WAL (one salt pair): just after `frame` frames, with the running checksum there. */
export interface WalCursor {
  header: WalHeader;
  /** Frames before this position (0: right after the header). */
  frame: number;
  /** Running checksum after those frames (the header's checksum when `frame` is 0). */
  checksum: WalChecksum;
}

/** The committed frames found after a cursor. */
export interface WalFrames {
  kind: 'frames';
  header: WalHeader;
  start: WalCursor;
  /** Just after the last commit frame found; equals `start` when there is none. */
  end: WalCursor;
  /** Raw frames (headers and pages) from `start` to `end`, exactly as in the file. */
  data: Buffer;
  /** Transactions (commit frames) in `data`. */
  commits: number;
  /** Database size in pages after the last commit in `data` (0 when none). */
  dbSize: number;
  /** Why reading stopped after the last valid frame: end of file, a frame that does not verify, or the read limit. */
  stop: 'eof' | 'invalid' | 'limit';
  /** Size of the WAL file when it was read. */
  fileSize: number;
}

/** What reading a WAL file after a cursor found. */
export type WalRead =
  /** No WAL file, or one shorter than a header, or an invalid header: SQLite sees no frames in it. */
  | { kind: 'empty'; fileSize: number }
  /** The WAL was restarted or truncated since the cursor: other salts, or a file shorter than the cursor's position. */
  | { kind: 'reset'; header: WalHeader | undefined; fileSize: number }
  | WalFrames;

/** Options of `readWalFrames`. */
export interface ReadWalOptions {
  /** Stop after about this many bytes of frames (default 64 MiB), at a commit boundary; grows past it for one larger transaction. */
  maxBytes?: number;
}

/** A cursor at the start of a WAL (no frame read yet). */
export function cursorAtStart(header: WalHeader): WalCursor {
  return { header, frame: 0, checksum: header.checksum };
}

/** Byte offset in the WAL file of a cursor. */
export function cursorOffset(cursor: WalCursor): number {
  return WAL_HEADER_SIZE + cursor.frame * frameSize(cursor.header.pageSize);
}

/** Whether a header has the same salts (and so belongs to the same WAL generation) as another. */
export function sameWal(a: WalHeader, b: WalHeader): boolean {
  return a.salt1 === b.salt1 && a.salt2 === b.salt2 && a.pageSize === b.pageSize && a.bigEndian === b.bigEndian;
}

/**
 * Reads the committed frames of the WAL at `walPath` after `from` (from the start when absent):
 * verifies the salts and the running checksum of every frame, stops at the first frame that does
 * not verify (a torn write, a leftover of an older WAL, or the end), and returns the frames up to
 * the last commit frame before that point. Frames after it belong to a transaction still being
 * written (or never committed) and are left for a later read.
 */
export async function readWalFrames(walPath: string, from?: WalCursor, options: ReadWalOptions = {}): Promise<WalRead> {
  return readWalFramesSync(walPath, from, options);
}

/**
 * `readWalFrames`, synchronously: for the shipper's short sections under the write lock, where an
 * event-loop turn would hold the app's writers. Reads stay bounded by `maxBytes` from the page cache.
 */
export function readWalFramesSync(walPath: string, from?: WalCursor, options: ReadWalOptions = {}): WalRead {
  let fd: number;
  try {
    fd = openSync(walPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'empty', fileSize: 0 };
    throw err;
  }
  try {
    const fileSize = fstatSync(fd).size;
    const headerBytes = Buffer.alloc(WAL_HEADER_SIZE);
    const bytesRead = readSync(fd, headerBytes, 0, WAL_HEADER_SIZE, 0);
    const header = bytesRead === WAL_HEADER_SIZE ? parseWalHeader(headerBytes) : undefined;
    if (from !== undefined) {
      if (header === undefined || !sameWal(header, from.header) || fileSize < cursorOffset(from))
        return { kind: 'reset', header, fileSize };
    } else if (header === undefined) {
      return { kind: 'empty', fileSize };
    }
    const start = from ?? cursorAtStart(header!);
    return scanFrames(fd, header!, start, fileSize, options.maxBytes ?? 64 << 20);
  } finally {
    closeSync(fd);
  }
}

function scanFrames(fd: number, header: WalHeader, start: WalCursor, fileSize: number, maxBytes: number): WalFrames {
  const size = frameSize(header.pageSize);
  const startOffset = cursorOffset(start);
  let limit = Math.max(size, Math.floor(maxBytes / size) * size);
  for (;;) {
    const length = Math.min(limit, Math.max(0, fileSize - startOffset));
    const buf = Buffer.alloc(Math.floor(length / size) * size);
    const bytesRead = buf.length > 0 ? readSync(fd, buf, 0, buf.length, startOffset) : 0;
    const data = buf.subarray(0, Math.floor(bytesRead / size) * size);
    let checksum = start.checksum;
    let frames = 0;
    let commits = 0;
    let lastCommit = { frames: 0, checksum: start.checksum, dbSize: 0 };
    let stop: WalFrames['stop'] = 'eof';
    for (let offset = 0; offset + size <= data.length; offset += size) {
      const next = verifyFrame(data, offset, header, checksum);
      if (next === undefined) {
        stop = 'invalid';
        break;
      }
      checksum = next;
      frames++;
      const commitSize = readFrameHeader(data, offset).commitSize;
      if (commitSize !== 0) {
        commits++;
        lastCommit = { frames, checksum, dbSize: commitSize };
      }
    }
    const truncatedByLimit = stop === 'eof' && startOffset + data.length < fileSize && data.length >= limit;
    // One transaction larger than the window: read a larger window rather than return nothing forever.
    if (truncatedByLimit && commits === 0) {
      limit *= 2;
      continue;
    }
    if (truncatedByLimit) stop = 'limit';
    return {
      kind: 'frames',
      header,
      start,
      end: { header, frame: start.frame + lastCommit.frames, checksum: lastCommit.checksum },
      data: data.subarray(0, lastCommit.frames * size),
      commits,
      dbSize: lastCommit.dbSize,
      stop,
      fileSize,
    };
  }
}
