import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

// The text header of an age v1 file (c2sp.org/age): a version line, one stanza per recipient, and
// a MAC line. Each stanza is `-> type args...` followed by its body in unpadded base64, wrapped at 64
// columns and ended by a line shorter than 64 characters (empty when the body fills whole lines).

/** The first line of every age v1 file. */
export const AGE_VERSION_LINE = 'age-encryption.org/v1';
/** No header persistd reads is longer; a longer one is refused before it fills memory. */
export const MAX_HEADER_BYTES = 64 * 1024;

/** One recipient stanza: its type, arguments and body bytes. */
export interface AgeStanza {
  type: string;
  args: string[];
  body: Buffer;
}

/** A parsed header: the stanzas, the MAC, and the bytes the MAC covers. */
export interface AgeHeader {
  stanzas: AgeStanza[];
  mac: Buffer;
  /** The header up to and including `---`, the input of the MAC. */
  macInput: Buffer;
  /** The whole header's length in bytes, MAC line and its newline included. */
  length: number;
}

/** Why an age file could not be read; says what was wrong, never any key. */
export class AgeFormatError extends Error {}

/** Unpadded standard base64, as the age header writes it. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

/** Decodes unpadded canonical base64; throws AgeFormatError on anything else. */
export function fromBase64(text: string): Buffer {
  if (!/^[A-Za-z0-9+/]*$/.test(text) || text.length % 4 === 1) throw new AgeFormatError('malformed base64 in the age header');
  const bytes = Buffer.from(text, 'base64');
  if (toBase64(bytes) !== text) throw new AgeFormatError('non-canonical base64 in the age header');
  return bytes;
}

/** The header's text for `stanzas`, up to and including `---` (what the MAC covers). */
export function headerMacInput(stanzas: readonly AgeStanza[]): Buffer {
  const parts = [AGE_VERSION_LINE, '\n'];
  for (const stanza of stanzas) {
    parts.push(['->', stanza.type, ...stanza.args].join(' '), '\n');
    const body = toBase64(stanza.body);
    for (let i = 0; i + 64 <= body.length; i += 64) parts.push(body.slice(i, i + 64), '\n');
    parts.push(body.slice(body.length - (body.length % 64)), '\n');
  }
  parts.push('---');
  return Buffer.from(parts.join(''), 'latin1');
}

/** The header MAC: HMAC-SHA-256 under HKDF(file key, "header"). */
export function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  const macKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  return createHmac('sha256', macKey).update(macInput).digest();
}

/** Whether `header.mac` is the MAC of its input under `fileKey` (compared in constant time). */
export function headerMacMatches(fileKey: Uint8Array, header: AgeHeader): boolean {
  const expected = headerMac(fileKey, header.macInput);
  return header.mac.length === expected.length && timingSafeEqual(header.mac, expected);
}

/** The whole header, MAC line included. */
export function encodeHeader(stanzas: readonly AgeStanza[], fileKey: Uint8Array): Buffer {
  const macInput = headerMacInput(stanzas);
  return Buffer.concat([macInput, Buffer.from(` ${toBase64(headerMac(fileKey, macInput))}\n`, 'latin1')]);
}

/**
 * Parses the header at the start of `bytes`; undefined when `bytes` ends before the header does (read
 * more and call again). Throws AgeFormatError when it is not an age v1 header.
 */
export function parseHeader(bytes: Buffer): AgeHeader | undefined {
  let pos = 0;
  const nextLine = (): string | undefined => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) {
      if (bytes.length - pos > MAX_HEADER_BYTES || bytes.length > MAX_HEADER_BYTES) throw new AgeFormatError('the age header is too long');
      return undefined;
    }
    const line = bytes.toString('latin1', pos, end);
    pos = end + 1;
    return line;
  };
  const version = nextLine();
  if (version === undefined) {
    const start = bytes.toString('latin1', 0, AGE_VERSION_LINE.length + 1);
    if (!`${AGE_VERSION_LINE}\n`.startsWith(start))
      throw new AgeFormatError('not an age file (it does not start with age-encryption.org/v1)');
    return undefined;
  }
  if (version !== AGE_VERSION_LINE) throw new AgeFormatError('not an age file (it does not start with age-encryption.org/v1)');
  const stanzas: AgeStanza[] = [];
  for (;;) {
    const lineStart = pos;
    const line = nextLine();
    if (line === undefined) return undefined;
    if (line.startsWith('--- ')) {
      const mac = fromBase64(line.slice(4));
      if (mac.length !== 32) throw new AgeFormatError('malformed MAC in the age header');
      return { stanzas, mac, macInput: bytes.subarray(0, lineStart + 3), length: pos };
    }
    if (!line.startsWith('-> ')) throw new AgeFormatError('malformed age header line');
    const [type, ...args] = line.slice(3).split(' ');
    if (type === undefined || type === '' || args.some((a) => a === '' || !/^[\x21-\x7e]+$/.test(a))) {
      throw new AgeFormatError('malformed age stanza');
    }
    const chunks: Buffer[] = [];
    for (;;) {
      const bodyLine = nextLine();
      if (bodyLine === undefined) return undefined;
      if (bodyLine.length > 64) throw new AgeFormatError('malformed age stanza body');
      chunks.push(fromBase64(bodyLine));
      if (bodyLine.length < 64) break;
    }
    stanzas.push({ type, args, body: Buffer.concat(chunks) });
  }
}
