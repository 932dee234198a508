import type { Readable } from 'node:stream';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { normalizeEtag } from './normalize-etag.js';
import { s3Sdk } from './s3-sdk.js';
import type { PartBufferPool } from './part-buffer-pool.js';
import type { S3HandlerCache } from './s3-handler-cache.js';
import { retryTransient, type RetryPolicy } from './retry-policy.js';

/** Runs one S3 command of this upload under the caller's signal, mapping failures to StoreErrors. */
export type S3Send = <T>(call: (abortSignal: AbortSignal | undefined) => Promise<T>) => Promise<T>;

/** What `uploadStream` needs to know about the object and the upload. */
export interface StreamUpload {
  client: S3Client;
  /** Sends the part uploads (many per object) through cached middleware chains. */
  handlers: S3HandlerCache;
  send: S3Send;
  bucket: string;
  /** Full key, with the store prefix. */
  key: string;
  metadata?: Record<string, string>;
  contentType?: string;
  ifNoneMatch?: '*';
  ifMatch?: string;
  /** Where part buffers come from (its `partSize` is the part size): shared by all uploads of a store. */
  buffers: PartBufferPool;
  /** Parts of this upload in flight at most (the pool may allow fewer when other uploads hold buffers). */
  concurrency: number;
  signal?: AbortSignal;
  /** Stores a body that fit in one part with a single PutObject; returns its ETag. */
  putSingle: (body: Buffer) => Promise<string>;
  /** Reads the ETag when CompleteMultipartUpload answers without one (Ceph RGW does). */
  headEtag: () => Promise<string>;
}

/** Each part is in memory, so it can be sent again: a few quick retries save the whole upload. */
const PART_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 2_000, maxElapsedMs: 30_000 };

/** One part: its bytes, and the pool buffer they are in (to give back once sent). */
interface Part {
  data: Buffer;
  buffer: Buffer;
}

/**
 * Uploads a stream of unknown length: parts of `partSize` go up `concurrency` at a time, in buffers
 * from the store's pool, so memory stays bounded whatever the size and however many uploads run. A
 * stream shorter than one part is sent with a single PutObject. On any failure the multipart upload
 * is aborted so no orphan parts stay billed.
 */
export async function uploadStream(upload: StreamUpload, body: Readable): Promise<{ etag: string; size: number }> {
  const parts = readParts(body, upload.buffers, upload.signal);
  try {
    const first = await parts.next();
    if (first.done) return { etag: await upload.putSingle(Buffer.alloc(0)), size: 0 };
    const firstPart = first.value;
    if (firstPart.data.length < upload.buffers.partSize) {
      let sent = false;
      try {
        const etag = await upload.putSingle(firstPart.data);
        sent = true;
        return { etag, size: firstPart.data.length };
      } finally {
        upload.buffers.release(firstPart.buffer, sent);
      }
    }
    return await uploadParts(upload, firstPart, parts);
  } finally {
    await parts.return(undefined);
    if (!body.readableEnded) body.destroy();
  }
}

async function uploadParts(upload: StreamUpload, firstPart: Part, parts: AsyncGenerator<Part>): Promise<{ etag: string; size: number }> {
  const { client, send, bucket, key } = upload;
  let created;
  try {
    created = await send((abortSignal) =>
      client.send(
        new (s3Sdk().CreateMultipartUploadCommand)({
          Bucket: bucket,
          Key: key,
          Metadata: upload.metadata,
          ContentType: upload.contentType,
        }),
        { abortSignal },
      ),
    );
  } catch (err) {
    upload.buffers.release(firstPart.buffer);
    throw err;
  }
  const uploadId = created.UploadId!;
  const completed: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  // A holder object, because the failure is recorded in callbacks the compiler cannot follow.
  const state: { failure?: { error: unknown } } = {};
  const throwIfFailed = (): void => {
    if (state.failure !== undefined) throw state.failure.error;
  };
  let size = 0;
  let partNumber = 0;
  const start = ({ data, buffer }: Part): void => {
    const number = ++partNumber;
    size += data.length;
    const sending = retryTransient(
      () =>
        send((abortSignal) =>
          upload.handlers.send(
            new (s3Sdk().UploadPartCommand)({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: number,
              Body: data,
              ContentLength: data.length,
            }),
            abortSignal,
          ),
        ),
      PART_RETRY,
      { signal: upload.signal },
    ).then(
      (answer) => {
        completed.push({ PartNumber: number, ETag: answer.ETag });
        upload.buffers.release(buffer);
      },
      (error: unknown) => {
        state.failure ??= { error };
        upload.buffers.release(buffer, false);
      },
    );
    const tracked: Promise<void> = sending.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  try {
    start(firstPart);
    for (;;) {
      // Pull the next part only when a slot is free: that is what bounds memory.
      while (inFlight.size >= upload.concurrency && state.failure === undefined) await Promise.race(inFlight);
      throwIfFailed();
      const next = await parts.next();
      if (next.done) break;
      start(next.value);
    }
    await Promise.all(inFlight);
    throwIfFailed();
    completed.sort((a, b) => a.PartNumber! - b.PartNumber!);
    const done = await send((abortSignal) =>
      client.send(
        new (s3Sdk().CompleteMultipartUploadCommand)({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: completed },
          IfNoneMatch: upload.ifNoneMatch,
          IfMatch: upload.ifMatch,
        }),
        { abortSignal },
      ),
    );
    const etag = normalizeEtag(done.ETag);
    return { etag: etag === '' ? await upload.headEtag() : etag, size };
  } catch (err) {
    await Promise.allSettled(inFlight);
    // Not under the caller's signal: it may be the reason we are here, and the abort must still go out.
    await client.send(new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    throw err;
  }
}

/**
 * Cuts a stream into parts of exactly `partSize` bytes (the last may be shorter), each in a pool buffer
 * taken only when the consumer asks for the next part. The caller gives back every part it receives;
 * a buffer still being filled when the consumer stops is given back here.
 */
async function* readParts(body: Readable, pool: PartBufferPool, signal: AbortSignal | undefined): AsyncGenerator<Part> {
  const partSize = pool.partSize;
  let part: Buffer | undefined;
  let filled = 0;
  try {
    for await (const raw of body) {
      let chunk = asBuffer(raw as Buffer | Uint8Array | string);
      while (chunk.length > 0) {
        part ??= await pool.acquire(signal);
        const n = Math.min(chunk.length, partSize - filled);
        chunk.copy(part, filled, 0, n);
        filled += n;
        chunk = chunk.subarray(n);
        if (filled === partSize) {
          const full = part;
          part = undefined;
          filled = 0;
          yield { data: full, buffer: full };
        }
      }
    }
    if (part !== undefined) {
      const last = part;
      part = undefined;
      yield { data: last.subarray(0, filled), buffer: last };
    }
  } finally {
    if (part !== undefined) pool.release(part);
  }
}

/** A chunk as a Buffer without copying its bytes. */
function asBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
