import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { ChunkedDataInfo } from '../../format/db-manifest.js';
import type { ObjectStore } from '../../store/object-store.js';
import { noteBufferChurn } from '../../memory/buffer-churn.js';
import { Semaphore } from '../../store/semaphore.js';
import { StoreError } from '../../store/store-errors.js';
import { openChunkCodec, type ChunkCodec, type ChunkFailure } from './chunk-codec.js';
import { chunkPlaces, chunkRuns, type ChunkPlace, type ChunkRun } from './chunk-plan.js';

/** Options of `downloadChunks`. */
export interface DownloadChunksOptions {
  signal?: AbortSignal;
  /** Threads that decompress, verify and write chunks (default: one per core). */
  threads?: number;
  /** Ranged GETs in flight at once (default 2). */
  parallelGets?: number;
  /** Compressed bytes per ranged GET (default 16 MiB). */
  runBytes?: number;
  /** Tries of one ranged GET on a transient failure, each resuming at the first chunk not yet received (default 4). */
  attempts?: number;
}

/** What failed in `downloadChunks`, for the caller to word: a chunk that does not verify, the store, or the local write. */
export type ChunkDownloadFailure =
  | { kind: 'integrity'; chunk: number; why: string }
  | { kind: 'storage'; error: unknown }
  | { kind: 'write'; error: Error & { code?: string } };

/** Thrown by `downloadChunks` with what failed. */
export class ChunkDownloadError extends Error {
  constructor(readonly failure: ChunkDownloadFailure) {
    super(
      failure.kind === 'integrity'
        ? `chunk ${failure.chunk} does not verify: ${failure.why}`
        : failure.kind === 'write'
          ? failure.error.message
          : String((failure.error as Error).message ?? failure.error),
    );
    this.name = 'ChunkDownloadError';
  }
}

/**
 * Restores a chunked data object (format 2, docs/FORMAT.md "Chunked snapshots") into the new file
 * `dest` as a pipeline: ranged GETs of runs of chunks in parallel, each chunk's zstd frame handed to a
 * thread that decompresses it, checks its length and sha256 against the index and writes it at its
 * offset, then one fsync, which `durable` resolves after (the caller awaits it before it uses the
 * file: it runs while the caller checks the database). Memory stays bounded whatever the size: a few chunk buffers per thread and
 * per GET, reused. A GET that fails part-way resumes at its first chunk not yet received.
 */
export async function downloadChunks(
  store: ObjectStore,
  key: string,
  data: ChunkedDataInfo,
  dbSize: number,
  dest: string,
  options: DownloadChunksOptions = {},
): Promise<{ durable: Promise<void> }> {
  const places = chunkPlaces(data.chunks, dbSize);
  const threads = Math.max(1, options.threads ?? availableParallelism());
  const runs = chunkRuns(places, options.runBytes ?? 16 << 20);
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const handle = await open(dest, 'wx').catch((err: unknown) => {
    throw new ChunkDownloadError({ kind: 'write', error: err as Error });
  });
  const codec = openChunkCodec(threads, places.length);
  const pipeline = new ChunkPipeline(store, key, codec, handle, places, threads, controller, options.attempts ?? 4);
  let durable: Promise<void> | undefined;
  try {
    let nextRun = 0;
    const getter = async (): Promise<void> => {
      while (nextRun < runs.length && pipeline.failure === undefined) await pipeline.fetchRun(runs[nextRun++]!);
    };
    await Promise.all(Array.from({ length: Math.min(options.parallelGets ?? 2, runs.length) }, getter)).catch((err: unknown) =>
      pipeline.fail(err),
    );
    await pipeline.settled();
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    if (pipeline.failure !== undefined) throw pipeline.failure;
    try {
      const { size } = await handle.stat();
      if (size !== dbSize) throw new Error(`the restored file has ${size} bytes, the manifest says ${dbSize}`);
      await pipeline.flushed();
    } catch (err) {
      throw new ChunkDownloadError({ kind: 'write', error: err as Error });
    }
    // The fsync is queued now and runs on the thread pool while the caller checks the database.
    durable = handle.sync().then(
      () => handle.close(),
      async (err: unknown) => {
        await handle.close();
        throw new ChunkDownloadError({ kind: 'write', error: err as Error });
      },
    );
    return { durable };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    controller.abort();
    await pipeline.settled();
    await pipeline.flushed();
    await Promise.all([codec.close(), durable === undefined ? handle.close() : undefined]);
  }
}

/** Bytes written between two background flushes of the restored file. */
const FLUSH_BYTES = 64 << 20;

/** The shared state of one download: chunk buffers, decodes in flight, the first failure. */
class ChunkPipeline {
  failure: Error | undefined;
  private readonly buffers: ArrayBuffer[] = [];
  private readonly bufferSize: number;
  private readonly slots: Semaphore;
  private readonly decodes = new Set<Promise<void>>();
  private unflushed = 0;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly key: string,
    private readonly codec: ChunkCodec,
    private readonly handle: FileHandle,
    places: readonly ChunkPlace[],
    threads: number,
    private readonly controller: AbortController,
    private readonly attempts: number,
  ) {
    this.bufferSize = places.reduce((max, p) => Math.max(max, p.compressed), 0);
    // A chunk waiting per thread keeps every thread busy while the next frames arrive.
    this.slots = new Semaphore(threads + 2);
  }

  /** Resolves when no background flush is running. */
  async flushed(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
  }

  /**
   * Starts writing the file's dirty pages out (fdatasync on the thread pool) every `FLUSH_BYTES`, so
   * that the disk works during the download and the final fsync has little left to do.
   */
  private flushNowAndThen(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < FLUSH_BYTES || this.flushing !== undefined) return;
    this.unflushed = 0;
    this.flushing = this.handle
      .datasync()
      .catch(() => undefined) // the final fsync reports any write error
      .finally(() => {
        this.flushing = undefined;
      });
  }

  /** Records the first failure and stops every GET. */
  fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err instanceof Error ? err : new Error(String(err));
    this.controller.abort();
  }

  /** Resolves when no decode is in flight. */
  async settled(): Promise<void> {
    while (this.decodes.size > 0) await Promise.allSettled([...this.decodes]);
  }

  /** Fetches one run with ranged GETs, handing each complete frame to the codec; retries transient failures. */
  async fetchRun(run: ChunkRun): Promise<void> {
    let next = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        next = await this.fetchFrom(run, next);
        return;
      } catch (err) {
        if (this.controller.signal.aborted) return;
        if (err instanceof ChunkDownloadError || !retryable(err) || attempt >= this.attempts) {
          throw err instanceof ChunkDownloadError ? err : new ChunkDownloadError({ kind: 'storage', error: err });
        }
        next = (err as { resumeAt?: number }).resumeAt ?? next;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1)));
      }
    }
  }

  /** One ranged GET from the run's chunk `first` to its end; returns the run's length when whole. */
  private async fetchFrom(run: ChunkRun, first: number): Promise<number> {
    const chunks = run.chunks;
    const last = chunks[chunks.length - 1]!;
    const body = await this.store.get(this.key, {
      range: { start: chunks[first]!.offset, end: last.offset + last.compressed - 1 },
      signal: this.controller.signal,
    });
    let next = first;
    let buffer: Uint8Array | undefined;
    let filled = 0;
    // The slot held for the buffer being filled; handed to the chunk's decode with it.
    let release: (() => void) | undefined;
    try {
      for await (const piece of body as AsyncIterable<Buffer>) {
        for (let at = 0; at < piece.length;) {
          const place = chunks[next];
          if (place === undefined)
            throw new ChunkDownloadError({ kind: 'integrity', chunk: last.index, why: 'the store sent more bytes than the run holds' });
          if (buffer === undefined) {
            release = await this.slots.acquire();
            buffer = new Uint8Array(this.buffers.pop() ?? new ArrayBuffer(this.bufferSize));
            filled = 0;
          }
          const n = Math.min(place.compressed - filled, piece.length - at);
          buffer.set(piece.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === place.compressed) {
            this.dispatch(place, buffer.buffer as ArrayBuffer, release!);
            buffer = undefined;
            release = undefined;
            next++;
          }
        }
      }
    } catch (err) {
      throw Object.assign(err instanceof Error ? err : new Error(String(err)), { resumeAt: next });
    } finally {
      if (buffer !== undefined) this.buffers.push(buffer.buffer as ArrayBuffer);
      release?.();
    }
    if (next < chunks.length) {
      throw Object.assign(new StoreError(`the ranged read of ${this.key} ended ${chunks.length - next} chunk(s) early`, true), {
        resumeAt: next,
      });
    }
    return next;
  }

  private dispatch(place: ChunkPlace, input: ArrayBuffer, release: () => void): void {
    const decoding = this.codec
      .decode({
        input,
        length: place.compressed,
        rawSize: place.rawSize,
        sha256: place.sha256,
        fd: this.handle.fd,
        position: place.position,
      })
      .then(
        (result) => {
          this.buffers.push(result.input);
          // The socket's reads that carried this frame are garbage now.
          noteBufferChurn(place.compressed);
          if (result.error) this.fail(new ChunkDownloadError(failureOf(place, result.error)));
          else this.flushNowAndThen(place.rawSize);
        },
        (err: unknown) => this.fail(err),
      )
      .finally(() => {
        release();
        this.decodes.delete(decoding);
      });
    this.decodes.add(decoding);
  }
}

function failureOf(place: ChunkPlace, error: ChunkFailure): ChunkDownloadFailure {
  if (error.kind === 'write')
    return { kind: 'write', error: Object.assign(new Error(error.message), error.code ? { code: error.code } : {}) };
  return { kind: 'integrity', chunk: place.index, why: error.message };
}

/** Transient store errors and broken response streams are retried; a missing object or a refusal is not. */
function retryable(err: unknown): boolean {
  if (err instanceof StoreError) return err.transient;
  return !(err instanceof Error && err.name === 'AbortError');
}
