import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { gzip } from 'node:zlib';

/** Options of `ParallelGzip`. */
export interface ParallelGzipOptions {
  /** gzip level (default 1). */
  level?: number;
  /** Uncompressed bytes per gzip member (default 4 MiB). */
  memberSize?: number;
  /** Members compressed at once (default `defaultCompressionConcurrency()`). */
  concurrency?: number;
}

/** Uncompressed bytes per gzip member: large enough that the 18 header bytes and the dictionary restart cost nothing. */
export const DEFAULT_MEMBER_SIZE = 4 << 20;

/**
 * How many members to compress at once: one per core, but leaving at least one thread of libuv's
 * pool (`UV_THREADPOOL_SIZE`, 4 by default) free for the file reads that feed the compression.
 */
export function defaultCompressionConcurrency(): number {
  const pool = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);
  const poolSize = Number.isInteger(pool) && pool > 0 ? pool : 4;
  return Math.max(1, Math.min(availableParallelism(), poolSize - 1));
}

interface Job {
  promise: Promise<void>;
  output?: Buffer;
  error?: Error;
}

/**
 * Compresses a byte stream into a multi-member gzip stream (RFC 1952 §2.2: members concatenated,
 * which every gunzip reads as one stream): the input is cut into `memberSize` pieces that are
 * compressed independently on libuv's thread pool, `concurrency` at a time, and emitted in order.
 * Memory is bounded by about (concurrency + 1) × memberSize of input plus its output, whatever the
 * stream's length; a slow reader holds the input back through the usual stream backpressure.
 */
export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly memberSize: number;
  private readonly concurrency: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly jobs: Job[] = [];
  private members = 0;

  constructor(options: ParallelGzipOptions = {}) {
    super();
    this.level = options.level ?? 1;
    this.memberSize = Math.max(64 << 10, options.memberSize ?? DEFAULT_MEMBER_SIZE);
    this.concurrency = Math.max(1, options.concurrency ?? defaultCompressionConcurrency());
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= this.memberSize) this.startMembers(false);
    this.emitDone(this.concurrency - 1).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.startMembers(true);
    // An empty input still makes a valid gzip stream: one empty member.
    if (this.members === 0) this.startJob(Buffer.alloc(0));
    this.emitDone(0).then(() => callback(), callback);
  }

  /** Starts a job for every full member in `pending` (and for the rest when `final`). */
  private startMembers(final: boolean): void {
    if (this.pendingBytes === 0) return;
    const input = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    let offset = 0;
    while (input.length - offset >= this.memberSize) {
      this.startJob(input.subarray(offset, offset + this.memberSize));
      offset += this.memberSize;
    }
    if (final && offset < input.length) {
      this.startJob(input.subarray(offset));
      offset = input.length;
    }
    this.pending = offset < input.length ? [input.subarray(offset)] : [];
    this.pendingBytes = input.length - offset;
  }

  private startJob(input: Buffer): void {
    this.members++;
    const job: Job = { promise: Promise.resolve() };
    // Settles, never rejects: a failure is kept on the job and raised in order, when its turn comes.
    job.promise = new Promise<void>((resolve) => {
      gzip(input, { level: this.level, chunkSize: 256 << 10 }, (error, output) => {
        if (error) job.error = error;
        else job.output = output;
        resolve();
      });
    });
    this.jobs.push(job);
  }

  /** Pushes finished members in order; waits for the oldest until at most `maxRunning` remain unfinished. */
  private async emitDone(maxRunning: number): Promise<void> {
    for (;;) {
      const head = this.jobs[0];
      if (head === undefined) return;
      if (head.output === undefined && head.error === undefined) {
        if (this.jobs.length <= maxRunning) return;
        await head.promise;
      }
      this.jobs.shift();
      if (head.error) throw head.error;
      this.push(head.output);
    }
  }
}
