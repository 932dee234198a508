import { isUtf8 } from 'node:buffer';

/**
 * (format 2) How a file's relative path (raw bytes, `/`-separated) is written in its object key
 * (docs/FORMAT.md, "File names"). A path that is valid UTF-8, holds no backslash and does not start
 * with `<letter>:` is its own key text, exactly as persistd 0.1 wrote it. Any other path is written as
 * `x:` followed by the path, with `%` as `%25`, `\` as `%5C` and every byte that is not part of valid
 * UTF-8 as `%XX` (upper-case hex); everything else stays as it is. persistd 0.1 refuses every such key
 * as unsafe ("starts with a drive letter"), so it reports it instead of restoring a wrongly named file.
 * Each path has exactly one key text: a reader refuses any other spelling.
 */

/** The prefix of an escaped key text. */
export const ESCAPED_NAME_MARKER = 'x:';

const DRIVE_LETTER = /^[A-Za-z]:/;
const LONE_SURROGATE = /\p{Cs}/u;
const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const HEX = '0123456789ABCDEF';

/** Length of the valid UTF-8 sequence starting at `i` (Unicode Table 3-7), or 0 when the byte there starts none. */
export function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < bytes.length && bytes[i + k]! >= lo && bytes[i + k]! <= hi;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no UTF-16 surrogates
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** Whether a path's bytes are their own key text (the format-1 spelling). */
export function isPlainName(bytes: Uint8Array): boolean {
  return isUtf8(bytes) && !bytes.includes(BACKSLASH) && !DRIVE_LETTER.test(Buffer.from(bytes.subarray(0, 2)).toString('latin1'));
}

/** The key text of a relative path given as raw bytes. */
export function encodeKeyName(bytes: Uint8Array): string {
  if (isPlainName(bytes)) return Buffer.from(bytes).toString('utf8');
  let out = ESCAPED_NAME_MARKER;
  let run = 0; // start of the pending run of literal bytes
  const flush = (end: number): void => {
    if (end > run) out += Buffer.from(bytes.subarray(run, end)).toString('utf8');
  };
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const len = b === PERCENT || b === BACKSLASH ? 0 : utf8SequenceLength(bytes, i);
    if (len > 0) {
      i += len;
      continue;
    }
    flush(i);
    out += `%${HEX[b >> 4]}${HEX[b & 15]}`;
    i++;
    run = i;
  }
  flush(bytes.length);
  return out;
}

/** The raw bytes of a key text, or why it is not one persistd writes (then nothing may be restored from it). */
export function decodeKeyName(text: string): { bytes: Buffer } | { why: string } {
  if (LONE_SURROGATE.test(text)) return { why: 'is not valid Unicode' };
  if (!text.startsWith(ESCAPED_NAME_MARKER)) {
    if (text.includes('\\')) return { why: 'contains a backslash' };
    if (DRIVE_LETTER.test(text)) return { why: 'starts with a drive letter' };
    return { bytes: Buffer.from(text, 'utf8') };
  }
  const parts: Buffer[] = [];
  const body = text.slice(ESCAPED_NAME_MARKER.length);
  let run = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') return { why: 'contains a backslash' };
    if (c !== '%') continue;
    const hex = body.slice(i + 1, i + 3);
    if (!/^[0-9A-F]{2}$/.test(hex)) return { why: `has a malformed escape \`${body.slice(i, i + 3)}\`` };
    parts.push(Buffer.from(body.slice(run, i), 'utf8'), Buffer.from([Number.parseInt(hex, 16)]));
    i += 2;
    run = i + 1;
  }
  parts.push(Buffer.from(body.slice(run), 'utf8'));
  const bytes = Buffer.concat(parts);
  // One spelling per path: `x:a.txt` or `x:%41` would name a file that has another key.
  if (encodeKeyName(bytes) !== text) return { why: 'is not the way persistd escapes this name' };
  return { bytes };
}

/** Why raw path bytes cannot be a file below a tree root, or undefined when they can. */
export function unsafeNameBytesReason(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return 'empty path';
  if (bytes.includes(0)) return 'contains a NUL byte';
  if (bytes[0] === SLASH) return 'is absolute';
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== SLASH) continue;
    const len = i - start;
    if (len === 0) return 'has an empty segment (`//` or trailing `/`)';
    if ((len === 1 && bytes[start] === 0x2e) || (len === 2 && bytes[start] === 0x2e && bytes[start + 1] === 0x2e))
      return 'has a `.` or `..` segment';
    if (len > 255) return 'has a segment longer than 255 bytes';
    start = i + 1;
  }
  return undefined;
}
