import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { AgeDecryptError, fileKeyOf } from './age-decrypt.js';
import { headerMacInput, parseHeader, type AgeHeader, type AgeStanza } from './age-header.js';
import type { AgeIdentity } from './age-keys.js';
import { CHUNK_SIZE, PAYLOAD_NONCE_SIZE, SEALED_CHUNK_SIZE, TAG_SIZE, payloadKey } from './age-stream.js';

// How persistd lays out one stored object as an age file. Besides the recipients' X25519 stanzas the
// header holds two stanzas `age` ignores but its MAC covers:
//   -> persistd-object          body: ChaCha20-Poly1305 under HKDF(file key, "persistd-object") of the
//                               object's key (UTF-8) and the plaintext's sha256 (32 zero bytes if none)
//   -> persistd-pad <filler>    'A' x (1 + 98 x (MAX_RECIPIENTS - recipients))
// The first binds the file to the key it was written under (a copy moved to another key is refused)
// and carries the hash out of sight of the store. The second makes the header's length a function of
// the key alone, so a listing's sizes give the exact plaintext sizes.

/** Recipients one object is encrypted to, at most (the padding makes every header this long). */
export const MAX_RECIPIENTS = 4;

const OBJECT_STANZA = 'persistd-object';
const PAD_STANZA = 'persistd-pad';
const X25519_STANZA_BYTES = 98; // "-> X25519 " + 43 + "\n" + 43 + "\n"
const ZERO_NONCE = Buffer.alloc(12);
const NO_HASH = Buffer.alloc(32);

function objectKeyOf(fileKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), OBJECT_STANZA, 32));
}

/** The header stanzas after the recipients' for an object stored under `key`. */
export function envelopeStanzas(fileKey: Buffer, recipients: number, key: string, sha256Hex: string | undefined): AgeStanza[] {
  if (recipients > MAX_RECIPIENTS) throw new RangeError(`at most ${MAX_RECIPIENTS} age recipients`);
  const cipher = createCipheriv('chacha20-poly1305', objectKeyOf(fileKey), ZERO_NONCE, { authTagLength: TAG_SIZE });
  const hash = sha256Hex === undefined ? NO_HASH : Buffer.from(sha256Hex, 'hex');
  const sealed = Buffer.concat([cipher.update(Buffer.from(key, 'utf8')), cipher.update(hash), cipher.final(), cipher.getAuthTag()]);
  return [
    { type: OBJECT_STANZA, args: [], body: sealed },
    { type: PAD_STANZA, args: ['A'.repeat(1 + X25519_STANZA_BYTES * (MAX_RECIPIENTS - recipients))], body: Buffer.alloc(0) },
  ];
}

/** Bytes before the first payload chunk of an object stored under `key`: the header and the payload nonce. */
export function envelopePrefixLength(key: string): number {
  const keyBytes = Buffer.byteLength(key, 'utf8');
  const dummyX25519: AgeStanza = { type: 'X25519', args: ['A'.repeat(43)], body: Buffer.alloc(32) };
  const stanzas: AgeStanza[] = [
    ...Array.from({ length: MAX_RECIPIENTS }, () => dummyX25519),
    { type: OBJECT_STANZA, args: [], body: Buffer.alloc(keyBytes + 32 + TAG_SIZE) },
    { type: PAD_STANZA, args: ['A'], body: Buffer.alloc(0) },
  ];
  return headerMacInput(stanzas).length + ' '.length + 43 + '\n'.length + PAYLOAD_NONCE_SIZE;
}

/** The plaintext size of an object of `storedSize` bytes under `key`, or undefined when no envelope has that size. */
export function plaintextSize(key: string, storedSize: number): number | undefined {
  return plaintextSizeAfter(envelopePrefixLength(key), storedSize);
}

/** The stored size of an object of `size` plaintext bytes under `key`. */
export function storedSize(key: string, size: number): number {
  return envelopePrefixLength(key) + size + Math.max(1, Math.ceil(size / CHUNK_SIZE)) * TAG_SIZE;
}

/** What the authenticated header of an object says: its sha256, when one was stored. */
export interface OpenedEnvelope {
  sha256: string | undefined;
}

/**
 * Checks an object's authenticated header (with its file key) against the keys it may be bound to (the
 * one it was read from, see acceptedBindings()): the `persistd-object` stanza must be there and name one. Returns the hash it carries. Throws
 * AgeDecryptError('corrupt') for a file moved from another key or not written by persistd.
 */
export function openEnvelope(header: AgeHeader, fileKey: Buffer, keys: readonly string[]): OpenedEnvelope {
  const stanza = header.stanzas.find((s) => s.type === OBJECT_STANZA);
  if (stanza === undefined) throw new AgeDecryptError('corrupt', 'the age file was not written by persistd (no persistd-object stanza)');
  if (stanza.body.length < 32 + TAG_SIZE) throw new AgeDecryptError('corrupt', 'malformed persistd-object stanza');
  const decipher = createDecipheriv('chacha20-poly1305', objectKeyOf(fileKey), ZERO_NONCE, { authTagLength: TAG_SIZE });
  decipher.setAuthTag(stanza.body.subarray(stanza.body.length - TAG_SIZE));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(stanza.body.subarray(0, stanza.body.length - TAG_SIZE)), decipher.final()]);
  } catch {
    throw new AgeDecryptError('corrupt', 'the persistd-object stanza does not authenticate');
  }
  const boundKey = plain.subarray(0, plain.length - 32).toString('utf8');
  if (!keys.includes(boundKey))
    throw new AgeDecryptError(
      'corrupt',
      `the object was written under another key (${JSON.stringify(boundKey)}): it was moved or swapped in the store`,
    );
  const hash = plain.subarray(plain.length - 32);
  return { sha256: hash.equals(NO_HASH) ? undefined : hash.toString('hex') };
}

/** The first bytes of a payload nonce that carries a write stamp. */
const STAMP_MAGIC = Buffer.from('pdw1', 'latin1');

/**
 * A payload nonce that carries `stamp` (ms since the epoch: when persistd wrote the object), authenticated
 * like the rest of the nonce by every payload chunk: `pdw1`, the stamp as 8 bytes big endian, 4 random bytes.
 */
export function stampedNonce(stamp: number): Buffer {
  const nonce = Buffer.alloc(PAYLOAD_NONCE_SIZE);
  STAMP_MAGIC.copy(nonce, 0);
  nonce.writeBigUInt64BE(BigInt(Math.floor(stamp)), 4);
  randomBytes(4).copy(nonce, 12);
  return nonce;
}

/** The write stamp a payload nonce carries, or undefined for a random one (an object written before stamps). */
export function stampOfNonce(nonce: Buffer): number | undefined {
  if (nonce.length !== PAYLOAD_NONCE_SIZE || !nonce.subarray(0, 4).equals(STAMP_MAGIC)) return undefined;
  return Number(nonce.readBigUInt64BE(4));
}

/** What reading the prefix of an object (its header and payload nonce) gives: enough to open any chunk. */
export interface EnvelopePrefix extends OpenedEnvelope {
  payloadKey: Buffer;
  /** The write stamp of the payload nonce (stampOfNonce()). */
  stamp: number | undefined;
  /** Bytes of the header and payload nonce: where chunk 0 starts. */
  length: number;
}

/** Opens the first `envelopePrefixLength(key)` bytes of an object (header and payload nonce); throws AgeDecryptError. */
export function openEnvelopePrefix(prefix: Buffer, keys: readonly string[], identities: readonly AgeIdentity[]): EnvelopePrefix {
  let header: AgeHeader | undefined;
  try {
    header = parseHeader(prefix);
  } catch (err) {
    throw new AgeDecryptError((err as Error).message.startsWith('not an age file') ? 'not-age' : 'corrupt', (err as Error).message);
  }
  if (header === undefined || prefix.length < header.length + PAYLOAD_NONCE_SIZE)
    throw new AgeDecryptError('corrupt', 'the age header is truncated');
  const fileKey = fileKeyOf(header, identities);
  const opened = openEnvelope(header, fileKey, keys);
  const nonce = prefix.subarray(header.length, header.length + PAYLOAD_NONCE_SIZE);
  const key32 = payloadKey(fileKey, nonce);
  fileKey.fill(0);
  return { ...opened, payloadKey: key32, stamp: stampOfNonce(nonce), length: header.length + PAYLOAD_NONCE_SIZE };
}

/** The plaintext size of a payload stored after a prefix of `prefixLength` bytes in an object of `storedSize` bytes. */
export function plaintextSizeAfter(prefixLength: number, storedSize: number): number | undefined {
  const payload = storedSize - prefixLength;
  if (payload < TAG_SIZE) return undefined;
  const whole = Math.floor(payload / SEALED_CHUNK_SIZE);
  const rest = payload % SEALED_CHUNK_SIZE;
  if (rest === 0) return whole * CHUNK_SIZE;
  if (rest < TAG_SIZE) return undefined;
  return whole * CHUNK_SIZE + rest - TAG_SIZE;
}
