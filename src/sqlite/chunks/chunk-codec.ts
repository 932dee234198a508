import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { CHUNK_WORKER_SOURCE } from './chunk-worker-source.js';

/** zstd's native binding (the low-level API: contexts and caller-owned buffers), by path for the worker threads. */
const ZSTD_BINDING_PATH = createRequire(import.meta.url).resolve('zstd-napi/binding.js');
const zstd = createRequire(import.meta.url)(ZSTD_BINDING_PATH) as typeof ZstdBinding;

/** Why a chunk task failed: the chunk does not decode or verify, the local write failed, or something else. */
export interface ChunkFailure {
  kind: 'integrity' | 'write' | 'internal';
  message: string;
  code?: string;
}

/** One chunk to decompress, verify and write at its offset. */
export interface DecodeTask {
  /** The zstd frame in its first `length` bytes; handed over, and handed back when the task is done. */
  input: ArrayBuffer;
  length: number;
  rawSize: number;
  sha256: string;
  fd: number;
  position: number;
}

/** A compressed chunk, with the sha256 of its uncompressed bytes and the input buffer handed back. */
export interface EncodedChunk {
  output: Buffer;
  sha256: string;
  input: ArrayBuffer;
}

/** Decompresses-and-writes and compresses chunks, on worker threads or on the calling thread. */
export interface ChunkCodec {
  /** Resolves with the input buffer back, and `error` when the chunk failed (never rejects for a bad chunk). */
  decode(task: DecodeTask): Promise<{ input: ArrayBuffer; error?: ChunkFailure }>;
  /**
   * Compresses the first `length` bytes of `input` at zstd `level`, into `reuse` when it is given and
   * large enough (the buffer of an earlier result's output), else into a new buffer.
   */
  encode(input: ArrayBuffer, length: number, level: number, reuse?: ArrayBuffer): Promise<EncodedChunk>;
  close(): Promise<void>;
}

/** The codec for `chunks` chunks: `threads` worker threads, or the calling thread when there is too little work to start them. */
export function openChunkCodec(threads: number, chunks: number): ChunkCodec {
  return threads >= 1 && chunks > 2 ? new WorkerChunkCodec(threads) : new InlineChunkCodec();
}

/** A worker's JavaScript heap stays small: its chunks live in ArrayBuffers outside it. */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 };

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
}

interface WorkerReply {
  id: number;
  input: ArrayBuffer;
  error?: ChunkFailure;
  output?: ArrayBuffer;
  length?: number;
  sha256?: string;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Why the thread is gone (an error, or its exit), once it is: no task is sent to it after that. */
  gone?: Error;
}

/** Chunk tasks on a fixed set of worker threads, each task to the least busy one. */
class WorkerChunkCodec implements ChunkCodec {
  private readonly slots: Slot[] = [];
  private nextId = 0;

  constructor(threads: number) {
    const zstdBinding = ZSTD_BINDING_PATH;
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(CHUNK_WORKER_SOURCE, { eval: true, workerData: { zstdBinding }, resourceLimits: WORKER_LIMITS });
      const slot: Slot = { worker, pending: new Map() };
      slot.worker.on('message', (reply: WorkerReply) => {
        const task = slot.pending.get(reply.id);
        slot.pending.delete(reply.id);
        task?.resolve(reply);
      });
      const fail = (err: Error): void => {
        slot.gone ??= err;
        for (const task of slot.pending.values()) task.reject(err);
        slot.pending.clear();
      };
      slot.worker.on('error', fail);
      slot.worker.on('exit', (code) => fail(new Error(`a chunk worker thread exited (code ${code})`)));
      this.slots.push(slot);
    }
  }

  async decode(task: DecodeTask): Promise<{ input: ArrayBuffer; error?: ChunkFailure }> {
    const reply = await this.send({ op: 'decode', ...task }, [task.input]);
    return reply.error ? { input: reply.input, error: reply.error } : { input: reply.input };
  }

  async encode(input: ArrayBuffer, length: number, level: number, reuse?: ArrayBuffer): Promise<EncodedChunk> {
    const bound = zstd.compressBound(length);
    const output = reuse !== undefined && reuse.byteLength >= bound ? reuse : new ArrayBuffer(bound);
    const reply = await this.send({ op: 'encode', input, length, level, output }, [input, output]);
    if (reply.error || reply.output === undefined || reply.sha256 === undefined || reply.length === undefined) {
      throw new Error(`cannot compress a chunk: ${reply.error?.message ?? 'no output'}`);
    }
    return { output: Buffer.from(reply.output, 0, reply.length), sha256: reply.sha256, input: reply.input };
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private send(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<WorkerReply> {
    const live = this.slots.filter((s) => s.gone === undefined);
    if (live.length === 0) return Promise.reject(this.slots[0]?.gone ?? new Error('no chunk worker thread'));
    const slot = live.reduce((best, s) => (s.pending.size < best.pending.size ? s : best));
    const id = this.nextId++;
    return new Promise<WorkerReply>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...message, id }, transfer);
    });
  }
}

/** The same tasks on the calling thread, for a database of a chunk or two. */
class InlineChunkCodec implements ChunkCodec {
  private readonly dctx = new zstd.DCtx();
  private readonly cctx = new zstd.CCtx();

  decode(task: DecodeTask): Promise<{ input: ArrayBuffer; error?: ChunkFailure }> {
    const error = decodeChunk(this.dctx, task);
    return Promise.resolve(error ? { input: task.input, error } : { input: task.input });
  }

  encode(input: ArrayBuffer, length: number, level: number, reuse?: ArrayBuffer): Promise<EncodedChunk> {
    const raw = new Uint8Array(input, 0, length);
    const sha256 = createHash('sha256').update(raw).digest('hex');
    const bound = zstd.compressBound(length);
    const frame = reuse !== undefined && reuse.byteLength >= bound ? Buffer.from(reuse) : Buffer.allocUnsafeSlow(bound);
    const n = this.cctx.compress(frame, raw, level);
    return Promise.resolve({ output: frame.subarray(0, n), sha256, input });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Decompresses, verifies and writes one chunk on this thread; the worker's `decode` does the same. */
function decodeChunk(dctx: ZstdBinding.DCtx, task: DecodeTask): ChunkFailure | undefined {
  const input = new Uint8Array(task.input, 0, task.length);
  let declared: number | null;
  try {
    declared = zstd.getFrameContentSize(input);
  } catch (err) {
    return { kind: 'integrity', message: `it is not a zstd frame (${(err as Error).message})` };
  }
  if (declared !== task.rawSize)
    return { kind: 'integrity', message: `its frame declares ${declared} bytes, the index says ${task.rawSize}` };
  const raw = Buffer.allocUnsafe(task.rawSize);
  let n: number;
  try {
    n = dctx.decompress(raw, input);
  } catch (err) {
    return { kind: 'integrity', message: `it is not a complete zstd frame (${(err as Error).message})` };
  }
  if (n !== task.rawSize) return { kind: 'integrity', message: `it holds ${n} bytes, the index says ${task.rawSize}` };
  const sha256 = createHash('sha256').update(raw).digest('hex');
  if (sha256 !== task.sha256) return { kind: 'integrity', message: `its sha256 is ${sha256}, the index says ${task.sha256}` };
  try {
    for (let done = 0; done < n;) done += writeSync(task.fd, raw, done, n - done, task.position + done);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { kind: 'write', message: (err as Error).message, ...(code ? { code } : {}) };
  }
  return undefined;
}
