import type { IndexEntry } from './index-entry.js';

// Layout of a packed entry, one byte per character: size and mtimeMs as float64 (exact for every
// number), mode as uint16, then the sha256 and the ETag. A lower-case hex digest is stored as its
// bytes (kind 1), anything else as its own characters (kind 0, the sha256 with a uint16 length).
const SIZE = 0;
const MTIME = 8;
const MODE = 16;
const SHA_KIND = 18;
const SHA = 19;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const ETAG_HEX = /^[0-9a-f]{32}$/;

// eslint-disable-next-line no-control-regex -- the one-byte range starts at NUL on purpose
const LATIN1 = /^[\u0000-\u00ff]*$/;
const scratch = Buffer.alloc(1024);

/**
 * Packs an IndexEntry into one flat string of about 70 one-byte characters: about 90 bytes on the V8
 * heap instead of about 210 for the object, its boxed mtime and its two hex strings. At 100,000 files
 * that is 12 MiB less for the garbage collector to keep (and to multiply by its heap growing factor).
 */
export function packEntry(entry: IndexEntry): string {
  scratch.writeDoubleLE(entry.size, SIZE);
  scratch.writeDoubleLE(entry.mtimeMs, MTIME);
  scratch.writeUInt16LE(entry.mode & 0xffff, MODE);
  const shaHex = SHA256_HEX.test(entry.sha256);
  const etagHex = ETAG_HEX.test(entry.etag);
  const rawLength = (shaHex ? 0 : entry.sha256.length) + (etagHex ? 0 : entry.etag.length);
  if (rawLength > scratch.length - 128 || (!shaHex && !LATIN1.test(entry.sha256)) || (!etagHex && !LATIN1.test(entry.etag))) {
    // Characters above U+00FF (or a very long value): the same layout, built as a string.
    scratch[SHA_KIND] = 0;
    scratch.writeUInt16LE(entry.sha256.length, SHA);
    return `${scratch.toString('latin1', 0, SHA + 2)}${entry.sha256}\u0000${entry.etag}`;
  }
  let at: number;
  if (shaHex) {
    scratch[SHA_KIND] = 1;
    scratch.write(entry.sha256, SHA, 32, 'hex');
    at = SHA + 32;
  } else {
    scratch[SHA_KIND] = 0;
    scratch.writeUInt16LE(entry.sha256.length, SHA);
    at = SHA + 2 + scratch.write(entry.sha256, SHA + 2, 'latin1');
  }
  scratch[at++] = etagHex ? 1 : 0;
  at += etagHex ? scratch.write(entry.etag, at, 16, 'hex') : scratch.write(entry.etag, at, 'latin1');
  // One slice of one buffer: a flat string (a concatenation would keep its parts and a cons cell).
  return scratch.toString('latin1', 0, at);
}

/** The IndexEntry that `packEntry` packed (a new object on every call). */
export function unpackEntry(packed: string): IndexEntry {
  const shaHex = packed.charCodeAt(SHA_KIND) === 1;
  const headLength = shaHex ? SHA + 32 : SHA + 2;
  const bytes = Buffer.from(packed.slice(0, headLength), 'latin1');
  let sha256: string;
  let rest: number;
  if (shaHex) {
    sha256 = bytes.toString('hex', SHA, SHA + 32);
    rest = headLength;
  } else {
    const length = bytes.readUInt16LE(SHA);
    sha256 = packed.slice(headLength, headLength + length);
    rest = headLength + length;
  }
  const etag = packed.charCodeAt(rest) === 1 ? Buffer.from(packed.slice(rest + 1), 'latin1').toString('hex') : packed.slice(rest + 1);
  return { size: bytes.readDoubleLE(SIZE), mtimeMs: bytes.readDoubleLE(MTIME), mode: bytes.readUInt16LE(MODE), sha256, etag };
}
