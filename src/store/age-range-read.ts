import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { AgeIdentity } from '../crypto/age-keys.js';
import { CHUNK_SIZE, SEALED_CHUNK_SIZE, openChunkParts } from '../crypto/age-stream.js';
import { ByteQueue } from '../crypto/byte-queue.js';
import { envelopePrefixLength, openEnvelopePrefix, plaintextSizeAfter, type EnvelopePrefix } from '../crypto/object-envelope.js';
import { AgeDecryptError } from '../crypto/age-decrypt.js';
import { AGE_VERSION_LINE } from '../crypto/age-header.js';
import type { ObjectInfo, ObjectStore } from './object-store.js';

/** An encrypted object's prefix opened: its payload key and hash, the object's info, and its plaintext size. */
export interface OpenedPrefix {
  prefix: EnvelopePrefix;
  info: ObjectInfo;
  plaintextSize: number;
}

/**
 * Reads and opens the header and payload nonce of the object under `key` with one ranged GET; for an object
 * that is no age file at all, its info as `plaintext` (whether to accept it is the caller's to say). Throws
 * AgeDecryptError.
 */
export async function readPrefix(
  inner: ObjectStore,
  key: string,
  bindings: readonly string[],
  identities: readonly AgeIdentity[],
  signal?: AbortSignal,
): Promise<OpenedPrefix | { plaintext: ObjectInfo }> {
  const length = envelopePrefixLength(bindings[bindings.length - 1]!);
  const got = await inner.getWithInfo(key, { range: { start: 0, end: length - 1 }, signal });
  const bytes = await buffer(got.body);
  if (!startsAsAgeFile(bytes)) return { plaintext: got.info };
  const prefix = openEnvelopePrefix(bytes, bindings, identities);
  const plaintextSize = plaintextSizeAfter(prefix.length, got.info.size);
  if (plaintextSize === undefined) throw new AgeDecryptError('corrupt', 'the object is shorter than its age envelope');
  return { prefix, info: got.info, plaintextSize };
}

/** Whether `bytes` (an object's first bytes, or all of a shorter one) begin with the age version line. */
function startsAsAgeFile(bytes: Buffer): boolean {
  const line = `${AGE_VERSION_LINE}\n`;
  return bytes.length >= line.length && bytes.toString('latin1', 0, line.length) === line;
}

/**
 * The plaintext bytes `start`..`end` (inclusive) of an encrypted object whose prefix is opened: one
 * ranged GET of the 64 KiB STREAM chunks that hold them, each opened (with its counter and last flag)
 * and trimmed. Failures (AgeDecryptError) are mapped by `mapError`.
 */
export async function readPlainRange(
  inner: ObjectStore,
  key: string,
  opened: OpenedPrefix,
  range: { start: number; end?: number },
  mapError: (err: unknown) => Error,
  signal?: AbortSignal,
): Promise<Readable> {
  const size = opened.plaintextSize;
  const end = Math.min(range.end ?? size - 1, size - 1);
  if (range.start > end) return Readable.from([]);
  const first = Math.floor(range.start / CHUNK_SIZE);
  const lastWanted = Math.floor(end / CHUNK_SIZE);
  const lastChunk = Math.max(0, Math.ceil(size / CHUNK_SIZE) - 1);
  const base = opened.prefix.length;
  const cipherEnd = Math.min(opened.info.size - 1, base + (lastWanted + 1) * SEALED_CHUNK_SIZE - 1);
  const body = await inner.get(key, { range: { start: base + first * SEALED_CHUNK_SIZE, end: cipherEnd }, signal });
  const queue = new ByteQueue();
  let counter = first;
  // Chunks are opened from the pieces they arrived in: a 64 KiB chunk and its tag straddle the store's
  // reads almost every time, and joining them would copy every byte once more.
  const emit = (stream: Transform, sealed: Buffer[]): void => {
    const plain: Buffer[] = [];
    if (!openChunkParts(opened.prefix.payloadKey, counter, sealed, counter === lastChunk, plain))
      throw new AgeDecryptError('corrupt', `age payload chunk ${counter} does not authenticate`);
    const chunkStart = counter * CHUNK_SIZE;
    const from = Math.max(0, range.start - chunkStart);
    const to = end + 1 - chunkStart;
    let at = 0;
    for (const part of plain) {
      const lo = Math.max(from, at);
      const hi = Math.min(to, at + part.length);
      if (hi > lo) stream.push(lo === at && hi === at + part.length ? part : part.subarray(lo - at, hi - at));
      at += part.length;
    }
    counter++;
  };
  const opener = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      queue.push(chunk);
      try {
        while (queue.length >= SEALED_CHUNK_SIZE && counter < lastWanted) emit(this, queue.takeParts(SEALED_CHUNK_SIZE));
        done();
      } catch (err) {
        done(mapError(err));
      }
    },
    flush(done: TransformCallback) {
      try {
        if (counter !== lastWanted || queue.length === 0)
          throw new AgeDecryptError('corrupt', 'the ranged read of the age payload ended early');
        emit(this, queue.takeParts(queue.length));
        done();
      } catch (err) {
        done(mapError(err));
      }
    },
  });
  pipeline(body, opener, () => undefined);
  return opener;
}
