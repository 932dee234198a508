import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';

// The age payload: a 16-byte nonce, then the plaintext in 64 KiB chunks, each sealed with
// ChaCha20-Poly1305 under HKDF(file key, nonce, "payload") with the nonce `counter (11 bytes, big
// endian) || last flag (1 byte)`. Only the last chunk may be shorter than 64 KiB, and it is empty only
// when the whole plaintext is.

/** Plaintext bytes per STREAM chunk. */
export const CHUNK_SIZE = 64 * 1024;
/** Bytes the Poly1305 tag adds to each chunk. */
export const TAG_SIZE = 16;
/** Ciphertext bytes of a whole chunk. */
export const SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
/** Bytes of the payload nonce before the first chunk. */
export const PAYLOAD_NONCE_SIZE = 16;

/** The payload key of a file key and payload nonce. */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Chunk `counter` of the plaintext, sealed: its ciphertext and its tag, appended to `out` (joined once by the caller). */
export function sealChunk(key: Buffer, counter: number, plaintext: Uint8Array, last: boolean, out: Buffer[]): void {
  const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_SIZE });
  out.push(cipher.update(plaintext));
  cipher.final(); // a stream cipher has no bytes left to give
  out.push(cipher.getAuthTag());
}

/** Buffers of a stream's output joined into one push: a few large writes downstream instead of one per 64 KiB chunk. */
export function joined(parts: readonly Buffer[]): Buffer | undefined {
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** Buffering of age streams: a frame of compressed data (1 MiB) passes in one piece. */
export const STREAM_HIGH_WATER_MARK = 1 << 20;

/** Chunk `counter` opened, or undefined when it does not authenticate (wrong key, altered, or the last flag is wrong). */
export function openChunk(key: Buffer, counter: number, sealed: Uint8Array, last: boolean): Buffer | undefined {
  if (sealed.length < TAG_SIZE) return undefined;
  const decipher = createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_SIZE });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  try {
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE));
    decipher.final(); // checks the tag; a stream cipher has no bytes left to give
    return plain;
  } catch {
    return undefined;
  }
}

/**
 * Chunk `counter` opened from the pieces it arrived in (no copy of the ciphertext), its plaintext appended
 * to `out`; false when it does not authenticate.
 */
export function openChunkParts(key: Buffer, counter: number, sealed: readonly Buffer[], last: boolean, out: Buffer[]): boolean {
  const total = sealed.reduce((n, part) => n + part.length, 0);
  if (total < TAG_SIZE) return false;
  const decipher = createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_SIZE });
  const plain: Buffer[] = [];
  const tag: Buffer[] = [];
  let offset = 0;
  for (const part of sealed) {
    const textEnd = Math.max(0, Math.min(part.length, total - TAG_SIZE - offset));
    if (textEnd > 0) plain.push(decipher.update(part.subarray(0, textEnd)));
    if (textEnd < part.length) tag.push(part.subarray(textEnd));
    offset += part.length;
  }
  decipher.setAuthTag(tag.length === 1 ? tag[0]! : Buffer.concat(tag));
  try {
    decipher.final();
  } catch {
    return false;
  }
  out.push(...plain);
  return true;
}

/** The ciphertext size of a payload of `plaintextSize` bytes (nonce and tags included, header not). */
export function sealedPayloadSize(plaintextSize: number): number {
  const chunks = Math.max(1, Math.ceil(plaintextSize / CHUNK_SIZE));
  return PAYLOAD_NONCE_SIZE + plaintextSize + chunks * TAG_SIZE;
}
