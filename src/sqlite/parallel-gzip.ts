import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { deflateRaw, gzip } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';

/** Options of `gzipFileInMembers`. */
export interface ParallelGzipOptions {
  /** gzip level (default 1). */
  level?: number;
  /** Uncompressed bytes per gzip member (default 1 MiB). */
  memberSize?: number;
  /** Members compressed at once (default `defaultCompressionConcurrency()`). */
  concurrency?: number;
  /**
   * `gzip` (default): gzip members, compressed on libuv's thread pool. (format 2) `zstd`: one zstd
   * frame (level 1) per member, compressed on the main thread one member per event-loop turn (about
   * 2 ms per MiB: the loop stays responsive), concatenated frames being one zstd stream.
   */
  encoding?: 'gzip' | 'zstd';
  /** Called with every piece of the file, in order, as it is read (e.g. to hash the uncompressed bytes). */
  onRead?: (bytes: Buffer) => void;
}

/**
 * Uncompressed bytes per gzip member: large against deflate's 32 KiB window (the restart costs well
 * under 1 % of size), small enough that the members in flight cost little memory.
 */
export const DEFAULT_MEMBER_SIZE = 1 << 20;

/**
 * How many members to compress at once: one per core but one (the app keeps a core for itself while
 * its database is snapshotted), at least one, and leaving at least one thread of libuv's pool
 * (`UV_THREADPOOL_SIZE`, 4 by default) free for the file reads that feed the compression.
 */
export function defaultCompressionConcurrency(): number {
  const pool = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);
  const poolSize = Number.isInteger(pool) && pool > 0 ? pool : 4;
  return Math.max(1, Math.min(availableParallelism() - 1, poolSize - 1));
}

interface Job {
  done: Promise<void>;
  output?: Buffer;
  error?: Error;
}

/**
 * Reads `file` and yields it as a multi-member gzip stream (RFC 1952 §2.2: members concatenated,
 * which every gunzip reads as one stream): each `memberSize` piece is compressed on libuv's thread
 * pool, `concurrency` at a time, and the members come out in file order; a member whose sample does
 * not compress is stored (deflate level 0). Memory is bounded whatever
 * the file's size: `concurrency` input buffers, reused, plus the compressed members not yet consumed
 * (at most `concurrency`); the file is read only as fast as the consumer takes the output.
 */
export async function* gzipFileInMembers(file: string, options: ParallelGzipOptions = {}): AsyncGenerator<Buffer> {
  const level = options.level ?? 1;
  const memberSize = Math.max(64 << 10, options.memberSize ?? DEFAULT_MEMBER_SIZE);
  const concurrency = Math.max(1, options.concurrency ?? defaultCompressionConcurrency());
  const free: Buffer[] = [];
  const jobs: Job[] = [];
  const handle = await open(file, 'r');
  try {
    for (let members = 0; ; members++) {
      // A buffer is free again once the job that read from it has finished: wait for the oldest job.
      while (jobs.length >= concurrency) yield await finish(jobs.shift()!);
      const buffer = free.pop() ?? Buffer.allocUnsafe(memberSize);
      const { bytesRead } = await readFull(handle, buffer);
      if (bytesRead === 0 && members > 0) {
        free.push(buffer);
        break;
      }
      // An empty file still makes a valid gzip stream: one empty member.
      const input = buffer.subarray(0, bytesRead);
      options.onRead?.(input);
      const release = (): void => void free.push(buffer);
      jobs.push(options.encoding === 'zstd' ? startZstdJob(input, release) : startJob(input, level, release));
      if (bytesRead < memberSize) break;
    }
    while (jobs.length > 0) yield await finish(jobs.shift()!);
  } finally {
    // On an early return (the consumer failed or was aborted) jobs still running finish on their own.
    await handle.close();
  }
}

/** Fills `buffer` from the handle's current position; fewer bytes only at the end of the file. */
async function readFull(handle: FileHandle, buffer: Buffer): Promise<{ bytesRead: number }> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return { bytesRead: filled };
}

function startZstdJob(input: Buffer, release: () => void): Job {
  const job: Job = { done: Promise.resolve() };
  job.done = new Promise<void>((resolve) => {
    setImmediate(() => {
      try {
        job.output = zstdCompress(input, { compressionLevel: 1 });
      } catch (err) {
        job.error = err instanceof Error ? err : new Error(String(err));
      }
      release();
      resolve();
    });
  });
  return job;
}

/** Bytes of a member compressed first to tell whether the member is worth compressing. */
const SAMPLE_BYTES = 16 << 10;
/** A sample that compresses to more than this share of its size marks its member incompressible. */
const INCOMPRESSIBLE_RATIO = 0.95;

function startJob(input: Buffer, level: number, release: () => void): Job {
  const job: Job = { done: Promise.resolve() };
  // Settles, never rejects: a failure is kept on the job and raised in order, when its turn comes.
  job.done = new Promise<void>((resolve) => {
    const compress = (memberLevel: number): void => {
      // One output chunk of the worst-case size: the member comes back as one buffer, not a concatenation.
      gzip(input, { level: memberLevel, chunkSize: input.length + (input.length >> 3) + 1024 }, (error, output) => {
        if (error) job.error = error;
        else job.output = output;
        release();
        resolve();
      });
    };
    if (level === 0 || input.length < 2 * SAMPLE_BYTES) {
      compress(level);
      return;
    }
    // Already-compressed or random content (images in BLOBs, encrypted columns) gains nothing from
    // deflate and costs its full CPU: such a member is stored (deflate level 0, still plain gzip, and
    // inflated at memory speed), decided from a sample from its middle.
    const middle = Math.floor((input.length - SAMPLE_BYTES) / 2);
    deflateRaw(input.subarray(middle, middle + SAMPLE_BYTES), { level: 1 }, (error, sample) => {
      compress(!error && sample.length > SAMPLE_BYTES * INCOMPRESSIBLE_RATIO ? 0 : level);
    });
  });
  return job;
}

async function finish(job: Job): Promise<Buffer> {
  await job.done;
  if (job.error) throw job.error;
  return job.output!;
}
