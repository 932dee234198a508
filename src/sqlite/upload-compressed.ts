import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { ObjectStore } from '../store/object-store.js';
import { StoreError } from '../store/store-errors.js';
import { gzipFileInMembers } from './parallel-gzip.js';

/** Sizes and sha256 of a file and of its gzip stream as uploaded. */
export interface UploadedDigests {
  raw: { size: number; sha256: string };
  compressed: { size: number; sha256: string };
}

/** Options of `uploadCompressedFile`. */
export interface UploadCompressedOptions {
  signal?: AbortSignal;
  logger?: Logger;
  /** gzip level; 1 by default: faster than 6 for a few percent larger objects. */
  level?: number;
  /** `gzip` members (default) or (format 2) `zstd` frames, one per member. */
  encoding?: 'gzip' | 'zstd';
  /** gzip members compressed at once (default: one per core, see `defaultCompressionConcurrency`). */
  compressionConcurrency?: number;
  /** Uncompressed bytes per gzip member (default 1 MiB). */
  memberSize?: number;
  /** Tries on transient store errors, each re-reading the local file (default 3). */
  attempts?: number;
  contentType?: string;
}

/**
 * Streams a local file through sha256, gzip and a second sha256 into `store.put` (a stream body of
 * unknown length: memory stays flat whatever the size). The gzip stream is multi-member: pieces of
 * `memberSize` are compressed in parallel and concatenated in order (`gzipFileInMembers`). On a transient
 * store error the whole upload is repeated from the file, since a consumed stream cannot be replayed
 * by a retry wrapper.
 */
export async function uploadCompressedFile(
  store: ObjectStore,
  key: string,
  file: string,
  options: UploadCompressedOptions = {},
): Promise<UploadedDigests> {
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await uploadOnce(store, key, file, options);
    } catch (err) {
      const retry = attempt < attempts && err instanceof StoreError && err.transient && !options.signal?.aborted;
      if (!retry) throw err;
      options.logger?.warn({ key, attempt, err: (err as Error).message }, 'snapshot upload failed, retrying');
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** (attempt - 1)));
    }
  }
}

async function uploadOnce(store: ObjectStore, key: string, file: string, options: UploadCompressedOptions): Promise<UploadedDigests> {
  const rawHash = createHash('sha256');
  let rawSize = 0;
  const compressed = new DigestStream();
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  const putting = store
    .put(key, body, {
      signal: options.signal,
      contentType: options.contentType ?? (options.encoding === 'zstd' ? 'application/zstd' : 'application/gzip'),
    })
    .catch((err: unknown) => {
      body.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    });
  const members = gzipFileInMembers(file, {
    level: options.level ?? 1,
    memberSize: options.memberSize,
    concurrency: options.compressionConcurrency,
    encoding: options.encoding ?? 'gzip',
    onRead: (bytes) => {
      rawHash.update(bytes);
      rawSize += bytes.length;
    },
  });
  const piping = pipeline(
    Readable.from(members, { objectMode: false, highWaterMark: 1 }),
    compressed,
    body,
    options.signal ? { signal: options.signal } : {},
  );
  const [piped, put] = await Promise.allSettled([piping, putting]);
  // The store's error says more than the broken pipe it caused.
  if (put.status === 'rejected') throw put.reason;
  if (piped.status === 'rejected') throw piped.reason;
  if (put.value.size !== compressed.size) {
    throw new StoreError(`upload of ${key} stored ${put.value.size} bytes, expected ${compressed.size}`, true, { op: 'put', path: key });
  }
  return { raw: { size: rawSize, sha256: rawHash.digest('hex') }, compressed: compressed.digest() };
}

/** Passes bytes through, counting them and hashing them with sha256. */
export class DigestStream extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  /** Size and hex sha256 of everything that passed; call once, after the stream ended. */
  digest(): { size: number; sha256: string } {
    return { size: this.size, sha256: this.hash.digest('hex') };
  }
}
