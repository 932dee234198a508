import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { SnapshotChunks } from '../../format/db-manifest.js';
import { noteBufferChurn } from '../../memory/buffer-churn.js';
import type { ObjectStore } from '../../store/object-store.js';
import { StoreError } from '../../store/store-errors.js';
import { defaultCompressionConcurrency } from '../parallel-gzip.js';
import type { ChunkSource } from '../wal-image.js';
import { openChunkCodec, type ChunkCodec, type EncodedChunk } from './chunk-codec.js';

/** Uncompressed bytes per chunk of a new chunked snapshot: large enough that the index stays small (a 1 GiB database has 256 entries), small enough for parallel restores. */
export const DEFAULT_CHUNK_SIZE = 4 << 20;

/** Options of `uploadChunks`. */
export interface UploadChunksOptions {
  signal?: AbortSignal;
  logger?: Logger;
  /** zstd level (default 1). */
  level?: number;
  /** Threads that compress (default `defaultCompressionConcurrency()`: one per core but one, which the app keeps). */
  threads?: number;
  /** Uncompressed bytes per chunk (default `DEFAULT_CHUNK_SIZE`). */
  chunkSize?: number;
  /** Tries on transient store errors, each re-reading the file (default 3). */
  attempts?: number;
}

/** What `uploadChunks` stored: the file's size, the object's size and its chunk index. */
export interface UploadedChunks {
  rawSize: number;
  size: number;
  chunks: SnapshotChunks;
}

/**
 * Uploads a file (a path) or a `ChunkSource` (a live `WalImage`) as a chunked data object (format 2, docs/FORMAT.md "Chunked snapshots"): each chunk
 * of `chunkSize` bytes is hashed (sha256) and compressed into its own zstd frame on worker threads,
 * the frames are streamed to `store.put` in order as they come, and their sizes and hashes make the
 * index. The source is read only as fast as the upload takes the frames: memory stays bounded. On a
 * transient store error the whole upload is repeated from the source.
 */
export async function uploadChunks(
  store: ObjectStore,
  key: string,
  from: string | ChunkSource,
  options: UploadChunksOptions = {},
): Promise<UploadedChunks> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const handle = typeof from === 'string' ? await open(from, 'r') : undefined;
  const source: ChunkSource = handle
    ? {
        size: (await handle.stat()).size,
        read: async (buffer, position) => readFull(buffer, (at, into) => handle.read(into, 0, into.length, position + at)),
      }
    : (from as ChunkSource);
  const codec = openChunkCodec(Math.max(1, options.threads ?? defaultCompressionConcurrency()), Math.ceil(source.size / chunkSize));
  try {
    const attempts = options.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        return await uploadOnce(store, key, source, codec, chunkSize, options);
      } catch (err) {
        const retry = attempt < attempts && err instanceof StoreError && err.transient && !options.signal?.aborted;
        if (!retry) throw err;
        options.logger?.warn({ key, attempt, err: (err as Error).message }, 'snapshot upload failed, retrying');
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** (attempt - 1)));
      }
    }
  } finally {
    await Promise.all([codec.close(), handle?.close()]);
  }
}

async function uploadOnce(
  store: ObjectStore,
  key: string,
  source: ChunkSource,
  codec: ChunkCodec,
  chunkSize: number,
  options: UploadChunksOptions,
): Promise<UploadedChunks> {
  const chunks: SnapshotChunks = { size: chunkSize, compressed: [], sha256: [] };
  let rawSize = 0;
  let size = 0;
  const frames = encodeSource(
    source,
    codec,
    chunkSize,
    options.level ?? 1,
    options.threads ?? defaultCompressionConcurrency(),
    (chunk, raw) => {
      chunks.compressed.push(chunk.output.length);
      chunks.sha256.push(chunk.sha256);
      rawSize += raw;
      size += chunk.output.length;
    },
  );
  const body = Readable.from(frames, { objectMode: false, highWaterMark: 1 });
  const info = await store.put(key, body, { signal: options.signal, contentType: 'application/zstd' });
  if (info.size !== size)
    throw new StoreError(`upload of ${key} stored ${info.size} bytes, expected ${size}`, true, { op: 'put', path: key });
  return { rawSize, size, chunks };
}

/** Bytes per copy of a frame handed to the upload. */
const SLICE_BYTES = 256 << 10;

/**
 * Reads the source from its start a chunk at a time and yields each chunk's frame in order, with up to
 * one chunk per thread and one more being compressed while the consumer takes the earlier frames.
 * The frames are compressed into buffers of this function's own, reused, and handed to the consumer as
 * copies of 256 KiB: the consumer may keep what it is given, and the copies it drops die young, where
 * `noteBufferChurn` frees them (a frame's buffer handed out whole would be freed only by a full collection).
 */
async function* encodeSource(
  source: ChunkSource,
  codec: ChunkCodec,
  chunkSize: number,
  level: number,
  threads: number,
  onChunk: (chunk: EncodedChunk, rawBytes: number) => void,
): AsyncGenerator<Buffer> {
  const inputs: ArrayBuffer[] = [];
  const outputs: ArrayBuffer[] = [];
  const queue: { encoding: Promise<EncodedChunk>; rawBytes: number }[] = [];
  const take = async function* (): AsyncGenerator<Buffer> {
    const { encoding, rawBytes } = queue.shift()!;
    const chunk = await encoding;
    inputs.push(chunk.input);
    onChunk(chunk, rawBytes);
    const frame = chunk.output;
    for (let at = 0; at < frame.length; at += SLICE_BYTES) yield Buffer.from(frame.subarray(at, at + SLICE_BYTES));
    outputs.push(frame.buffer as ArrayBuffer);
    noteBufferChurn(frame.length);
  };
  try {
    for (let position = 0; ;) {
      while (queue.length >= threads + 1) yield* take();
      const input = inputs.pop() ?? new ArrayBuffer(chunkSize);
      const bytes = await source.read(new Uint8Array(input), position);
      if (bytes === 0) break;
      queue.push({ encoding: codec.encode(input, bytes, level, outputs.pop()), rawBytes: bytes });
      position += bytes;
      if (bytes < chunkSize) break;
    }
    while (queue.length > 0) yield* take();
  } finally {
    // On an early end (the upload failed) the frames still being compressed are dropped.
    await Promise.allSettled(queue.map((q) => q.encoding));
  }
}

/** Fills `buffer` by calls of `readAt(filled, rest)` until it is full or a read returns nothing; the bytes read. */
async function readFull(buffer: Uint8Array, readAt: (at: number, into: Uint8Array) => Promise<{ bytesRead: number }>): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await readAt(filled, buffer.subarray(filled));
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}
