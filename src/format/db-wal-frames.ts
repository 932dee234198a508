/**
 * SQLite's WAL file format (https://www.sqlite.org/fileformat2.html#walformat): the 32-byte header,
 * 24-byte frame headers and the running checksum. Shared by the shipper (which reads a live `-wal`)
 * and the restore (which checks the frames of downloaded segments).
 */

/** Bytes of the WAL header. */
export const WAL_HEADER_SIZE = 32;
/** Bytes of a frame header; the page follows it. */
export const WAL_FRAME_HEADER_SIZE = 24;
/** Magic with the low bit clear: checksums over little-endian words; set: big-endian. */
const WAL_MAGIC = 0x377f0682;
const WAL_VERSION = 3007000;

/** A running WAL checksum: two unsigned 32-bit words. */
export type WalChecksum = readonly [number, number];

/** The parsed WAL header. */
export interface WalHeader {
  /** Whether the checksums run over big-endian words (magic 0x377f0683). */
  bigEndian: boolean;
  pageSize: number;
  checkpointSeq: number;
  salt1: number;
  salt2: number;
  /** The header's own checksum, which seeds the first frame's. */
  checksum: WalChecksum;
  /** The 32 header bytes as read. */
  bytes: Buffer;
}

/** One frame's header fields. */
export interface WalFrameHeader {
  pgno: number;
  /** Database size in pages after this commit; non-zero only on a transaction's last frame. */
  commitSize: number;
  salt1: number;
  salt2: number;
  checksum: WalChecksum;
}

/**
 * SQLite's WAL checksum of `length` bytes of `buf` from `offset` (a multiple of 8), continuing `seed`.
 * Words are read in the byte order the WAL's magic names.
 */
export function walChecksum(buf: Buffer, offset: number, length: number, bigEndian: boolean, seed: WalChecksum): WalChecksum {
  let s1 = seed[0];
  let s2 = seed[1];
  const end = offset + length;
  if (bigEndian) {
    for (let i = offset; i < end; i += 8) {
      s1 = (s1 + buf.readUInt32BE(i) + s2) >>> 0;
      s2 = (s2 + buf.readUInt32BE(i + 4) + s1) >>> 0;
    }
  } else {
    for (let i = offset; i < end; i += 8) {
      s1 = (s1 + buf.readUInt32LE(i) + s2) >>> 0;
      s2 = (s2 + buf.readUInt32LE(i + 4) + s1) >>> 0;
    }
  }
  return [s1, s2];
}

/** Parses a WAL header; undefined when the bytes are not a valid one (wrong magic, version, page size or checksum). */
export function parseWalHeader(buf: Buffer): WalHeader | undefined {
  if (buf.length < WAL_HEADER_SIZE) return undefined;
  const magic = buf.readUInt32BE(0);
  if ((magic & 0xfffffffe) !== WAL_MAGIC) return undefined;
  if (buf.readUInt32BE(4) !== WAL_VERSION) return undefined;
  const pageSize = buf.readUInt32BE(8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return undefined;
  const bigEndian = (magic & 1) === 1;
  const checksum: WalChecksum = [buf.readUInt32BE(24), buf.readUInt32BE(28)];
  const computed = walChecksum(buf, 0, 24, bigEndian, [0, 0]);
  if (computed[0] !== checksum[0] || computed[1] !== checksum[1]) return undefined;
  return {
    bigEndian,
    pageSize,
    checkpointSeq: buf.readUInt32BE(12),
    salt1: buf.readUInt32BE(16),
    salt2: buf.readUInt32BE(20),
    checksum,
    bytes: Buffer.from(buf.subarray(0, WAL_HEADER_SIZE)),
  };
}

/** Reads the frame header at `offset` of `buf`. */
export function readFrameHeader(buf: Buffer, offset: number): WalFrameHeader {
  return {
    pgno: buf.readUInt32BE(offset),
    commitSize: buf.readUInt32BE(offset + 4),
    salt1: buf.readUInt32BE(offset + 8),
    salt2: buf.readUInt32BE(offset + 12),
    checksum: [buf.readUInt32BE(offset + 16), buf.readUInt32BE(offset + 20)],
  };
}

/**
 * Checks the frame at `offset` of `buf` (header and page) against the header's salts and the running
 * checksum `seed`; returns the checksum after it, or undefined when the frame is not valid there
 * (a torn write, a frame of an older WAL generation, or garbage), which is where SQLite stops too.
 */
export function verifyFrame(
  buf: Buffer,
  offset: number,
  header: Pick<WalHeader, 'salt1' | 'salt2' | 'bigEndian' | 'pageSize'>,
  seed: WalChecksum,
): WalChecksum | undefined {
  if (offset + WAL_FRAME_HEADER_SIZE + header.pageSize > buf.length) return undefined;
  const frame = readFrameHeader(buf, offset);
  if (frame.salt1 !== header.salt1 || frame.salt2 !== header.salt2 || frame.pgno === 0) return undefined;
  let sum = walChecksum(buf, offset, 8, header.bigEndian, seed);
  sum = walChecksum(buf, offset + WAL_FRAME_HEADER_SIZE, header.pageSize, header.bigEndian, sum);
  return sum[0] === frame.checksum[0] && sum[1] === frame.checksum[1] ? sum : undefined;
}

/** Bytes one frame takes in a WAL of `pageSize`. */
export function frameSize(pageSize: number): number {
  return WAL_FRAME_HEADER_SIZE + pageSize;
}
