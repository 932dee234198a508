/**
 * The body of a WAL segment object (docs/FORMAT.md, "WAL segments"): the WAL header of its epoch,
 * where it starts, whole frames exactly as SQLite wrote them, and a sha256 of all that; the object
 * is this body gzip-compressed. Frames keep SQLite's salts and running checksums, so a reader
 * verifies every frame and the chain from one segment to the next.
 */
import { createHash } from 'node:crypto';
import { PersistdError } from '../errors.js';
import {
  frameSize,
  parseWalHeader,
  readFrameHeader,
  verifyFrame,
  WAL_HEADER_SIZE,
  type WalChecksum,
  type WalHeader,
} from './db-wal-frames.js';
import type { SegmentKey } from './db-wal-keys.js';

/** Format 1 segments (read only). */
const MAGIC_V1 = Buffer.from('PDWALSG1', 'ascii');
/** Format 2 segments: format 1's fields, then where the previous epoch ended (written by this persistd). */
const MAGIC = Buffer.from('PDWALSG2', 'ascii');
const FIXED_V1 = MAGIC.length + WAL_HEADER_SIZE + 4 + 4 + 4 + 8;
const FIXED = FIXED_V1 + 4 + 4 + 8;
const SHA_SIZE = 32;
const HAS_PREVIOUS_EPOCH_END = 1;

/** Where the WAL of the previous epoch ended when SQLite restarted it: its frame count and the running checksum after its last frame. */
export interface EpochEnd {
  frame: number;
  checksum: WalChecksum;
}

/** A segment's content before encoding or after decoding and verifying. */
export interface WalSegment {
  header: WalHeader;
  epoch: number;
  /** Frame number (1-based) of the first frame. */
  first: number;
  /** Frames in `frames`. */
  count: number;
  /** Running checksum before the first frame (the previous frame's, or the header's for frame 1). */
  startChecksum: WalChecksum;
  /** Whole frames (24-byte header and page each); the last one is a commit frame. */
  frames: Buffer;
  /**
   * On the first segment of an epoch after the first (format 2): where the previous epoch's WAL ended,
   * so that a reader can prove that no frame of it was skipped. Absent in format 1 segments.
   */
  previousEpochEnd?: EpochEnd;
}

/** Encodes a segment body (uncompressed), ending with the sha256 of everything before it. */
export function encodeSegment(segment: WalSegment): Buffer {
  const fixed = Buffer.alloc(FIXED);
  MAGIC.copy(fixed, 0);
  segment.header.bytes.copy(fixed, MAGIC.length);
  let at = MAGIC.length + WAL_HEADER_SIZE;
  const previous = segment.previousEpochEnd;
  const fields = [
    segment.epoch,
    segment.first,
    segment.count,
    segment.startChecksum[0],
    segment.startChecksum[1],
    previous ? HAS_PREVIOUS_EPOCH_END : 0,
    previous?.frame ?? 0,
    previous?.checksum[0] ?? 0,
    previous?.checksum[1] ?? 0,
  ];
  for (const value of fields) {
    fixed.writeUInt32BE(value, at);
    at += 4;
  }
  const hash = createHash('sha256').update(fixed).update(segment.frames).digest();
  return Buffer.concat([fixed, segment.frames, hash]);
}

/**
 * Decodes and verifies a segment body against its key: sha256, WAL header, epoch and frame range,
 * salts and running checksum of every frame, and a commit frame at the end. Throws kind `integrity`.
 */
export function decodeSegment(body: Buffer, key: SegmentKey): WalSegment {
  const fail = (why: string): PersistdError =>
    new PersistdError(`WAL segment ${key.key} does not verify: ${why}`, {
      kind: 'integrity',
      op: 'restore',
      path: key.key,
      hint: 'the segment in the store is damaged; restore to an earlier time (--timestamp) or the snapshot alone',
    });
  const magic = body.subarray(0, MAGIC.length);
  const v1 = magic.equals(MAGIC_V1);
  const fixed = v1 ? FIXED_V1 : FIXED;
  if (body.length < fixed + SHA_SIZE || !(v1 || magic.equals(MAGIC))) throw fail('it is not a persistd WAL segment');
  const content = body.subarray(0, body.length - SHA_SIZE);
  if (
    !createHash('sha256')
      .update(content)
      .digest()
      .equals(body.subarray(body.length - SHA_SIZE))
  )
    throw fail('its sha256 does not match its content');
  const header = parseWalHeader(body.subarray(MAGIC.length, MAGIC.length + WAL_HEADER_SIZE));
  if (header === undefined) throw fail('its WAL header is invalid');
  const at = MAGIC.length + WAL_HEADER_SIZE;
  const [epoch, first, count, s1, s2] = [0, 4, 8, 12, 16].map((o) => body.readUInt32BE(at + o)) as [number, number, number, number, number];
  if (epoch !== key.epoch || first !== key.first || first + count - 1 !== key.last)
    throw fail('its epoch or frame range differs from its key');
  let previousEpochEnd: EpochEnd | undefined;
  if (!v1) {
    const [flags, frame, p1, p2] = [20, 24, 28, 32].map((o) => body.readUInt32BE(at + o)) as [number, number, number, number];
    if ((flags & ~HAS_PREVIOUS_EPOCH_END) !== 0) throw fail(`it has unknown flags ${flags}`);
    if (flags & HAS_PREVIOUS_EPOCH_END) {
      if (first !== 1 || epoch === 0) throw fail('it names where a previous epoch ended but does not start an epoch');
      previousEpochEnd = { frame, checksum: [p1, p2] };
    }
  }
  const frames = body.subarray(fixed, body.length - SHA_SIZE);
  const size = frameSize(header.pageSize);
  if (frames.length !== count * size) throw fail(`it holds ${frames.length} bytes of frames, expected ${count} frames of ${size}`);
  let checksum: WalChecksum = [s1, s2];
  if (first === 1 && (s1 !== header.checksum[0] || s2 !== header.checksum[1])) throw fail('its first frame does not follow its WAL header');
  for (let offset = 0; offset < frames.length; offset += size) {
    const next = verifyFrame(frames, offset, header, checksum);
    if (next === undefined) throw fail(`frame ${first + offset / size} fails its salt or checksum check`);
    checksum = next;
  }
  if (count === 0 || readFrameHeader(frames, frames.length - size).commitSize === 0) throw fail('it does not end with a commit frame');
  return { header, epoch, first, count, startChecksum: [s1, s2], frames, ...(previousEpochEnd ? { previousEpochEnd } : {}) };
}

/** The running checksum after a segment's last frame (what the next segment of the epoch must start with). */
export function segmentEndChecksum(segment: WalSegment): WalChecksum {
  const size = frameSize(segment.header.pageSize);
  if (segment.count === 0) return segment.startChecksum;
  const last = readFrameHeader(segment.frames, segment.frames.length - size);
  return last.checksum;
}
