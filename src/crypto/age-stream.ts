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

/** Chunk `counter` of the plaintext, sealed. */
export function sealChunk(key: Buffer, counter: number, plaintext: Uint8Array, last: boolean): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_SIZE });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

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

/** The ciphertext size of a payload of `plaintextSize` bytes (nonce and tags included, header not). */
export function sealedPayloadSize(plaintextSize: number): number {
  const chunks = Math.max(1, Math.ceil(plaintextSize / CHUNK_SIZE));
  return PAYLOAD_NONCE_SIZE + plaintextSize + chunks * TAG_SIZE;
}
