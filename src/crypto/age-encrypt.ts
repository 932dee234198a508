import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { encodeHeader, type AgeStanza } from './age-header.js';
import type { AgeRecipient } from './age-keys.js';
import { CHUNK_SIZE, PAYLOAD_NONCE_SIZE, STREAM_HIGH_WATER_MARK, joined, payloadKey, sealChunk } from './age-stream.js';
import { ByteQueue } from './byte-queue.js';
import { wrapFileKey } from './x25519-stanza.js';

/** What to encrypt to. */
export interface AgeEncryptOptions {
  /** X25519 recipients; at least one. */
  recipients: readonly AgeRecipient[];
  /**
   * Extra stanzas written after the recipients' ones (given the file key, to seal things under it). They
   * are covered by the header MAC, so a reader holding an identity knows they were written with the file;
   * `age` itself ignores stanza types it does not know.
   */
  extraStanzas?: readonly AgeStanza[] | ((fileKey: Buffer, recipients: number) => readonly AgeStanza[]);
  /** The 16-byte payload nonce (default: random). The file key is fresh for every file, so the payload key is unique either way. */
  nonce?: Buffer;
}

function start(options: AgeEncryptOptions): { header: Buffer; key: Buffer } {
  if (options.recipients.length === 0) throw new Error('age encryption needs at least one recipient');
  const fileKey = randomBytes(16);
  const extra =
    typeof options.extraStanzas === 'function' ? options.extraStanzas(fileKey, options.recipients.length) : (options.extraStanzas ?? []);
  const stanzas = [...options.recipients.map((r) => wrapFileKey(fileKey, r)), ...extra];
  const header = encodeHeader(stanzas, fileKey);
  const nonce = options.nonce ?? randomBytes(PAYLOAD_NONCE_SIZE);
  if (nonce.length !== PAYLOAD_NONCE_SIZE) throw new RangeError(`the age payload nonce has ${PAYLOAD_NONCE_SIZE} bytes`);
  const key = payloadKey(fileKey, nonce);
  fileKey.fill(0);
  return { header: Buffer.concat([header, nonce]), key };
}

/** A stream that turns plaintext into an age v1 file, 64 KiB chunk by chunk (pushed in one piece per write). */
export function createAgeEncryptStream(options: AgeEncryptOptions): Transform {
  const { header, key } = start(options);
  const pending = new ByteQueue();
  let counter = 0;
  let headerSent = false;
  const out = (): Buffer[] => {
    const parts: Buffer[] = headerSent ? [] : [header];
    headerSent = true;
    return parts;
  };
  return new Transform({
    readableHighWaterMark: STREAM_HIGH_WATER_MARK,
    writableHighWaterMark: STREAM_HIGH_WATER_MARK,
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      const parts = out();
      pending.push(chunk);
      // A chunk is sealed as not-last only once a byte after it has arrived.
      while (pending.length > CHUNK_SIZE) sealChunk(key, counter++, pending.take(CHUNK_SIZE), false, parts);
      done(null, joined(parts));
    },
    flush(done: TransformCallback) {
      const parts = out();
      sealChunk(key, counter, pending.takeAll(), true, parts);
      key.fill(0);
      done(null, joined(parts));
    },
  });
}

/** `plaintext` as an age v1 file, in memory. */
export function ageEncrypt(plaintext: Uint8Array, options: AgeEncryptOptions): Buffer {
  const { header, key } = start(options);
  const parts = [header];
  let counter = 0;
  let offset = 0;
  while (plaintext.length - offset > CHUNK_SIZE) {
    sealChunk(key, counter++, plaintext.subarray(offset, offset + CHUNK_SIZE), false, parts);
    offset += CHUNK_SIZE;
  }
  sealChunk(key, counter, plaintext.subarray(offset), true, parts);
  key.fill(0);
  return Buffer.concat(parts);
}
