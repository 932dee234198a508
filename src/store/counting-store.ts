import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import type {
  CopyOptions,
  GetOptions,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  ObjectWithInfo,
  PutBody,
  PutOptions,
  RequestOptions,
  StoreCapabilities,
} from './object-store.js';

/** The store operations counted. */
export type StoreOperation = 'put' | 'get' | 'head' | 'list' | 'delete';

/** Counts of one operation since the store was opened. */
export interface OperationCounts {
  /** Calls made (a `list` counts once per listing, a `delete` once per call). */
  requests: number;
  /** Calls that failed (not-found answers to `head` and `get` included). */
  errors: number;
  /** Bytes sent (`put`) or received (`get`, counted as the stream is read). */
  bytes: number;
  /** Objects listed (`list`) or keys asked to delete (`delete`). */
  objects: number;
}

/** Per-operation counts, for `persistd status` and metrics. */
export type RequestCounts = Record<StoreOperation, OperationCounts>;

const OPERATIONS: readonly StoreOperation[] = ['put', 'get', 'head', 'list', 'delete'];

/** Counts the requests, errors and bytes that pass through to the inner store, so idle cost is visible. */
export class CountingStore implements ObjectStore {
  private readonly counts: RequestCounts = emptyCounts();

  constructor(private readonly inner: ObjectStore) {}

  get description(): string {
    return this.inner.description;
  }

  get capabilities(): StoreCapabilities {
    return this.inner.capabilities;
  }

  /** A copy of the counts so far. */
  snapshot(): RequestCounts {
    return Object.fromEntries(OPERATIONS.map((op) => [op, { ...this.counts[op] }])) as RequestCounts;
  }

  async put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo> {
    const counted = body instanceof Readable ? countBytes(body, (n) => (this.counts.put.bytes += n)) : body;
    if (!(body instanceof Readable)) this.counts.put.bytes += typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    return this.track('put', () => this.inner.put(key, counted, options));
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const stream = await this.track('get', () => this.inner.get(key, options));
    return countBytes(stream, (n) => (this.counts.get.bytes += n));
  }

  /** Counted as a `get`. */
  async getWithInfo(key: string, options?: GetOptions): Promise<ObjectWithInfo> {
    const got = await this.track('get', () => this.inner.getWithInfo(key, options));
    return { info: got.info, body: countBytes(got.body, (n) => (this.counts.get.bytes += n)) };
  }

  /** Counted as a `put` (a server-side copy is a PUT request that sends no body). */
  copy(sourceKey: string, destKey: string, options?: CopyOptions): Promise<void> {
    return this.track('put', () => this.inner.copy(sourceKey, destKey, options));
  }

  head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    return this.track('head', () => this.inner.head(key, options));
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    this.counts.list.requests++;
    try {
      for await (const info of this.inner.list(prefix, options)) {
        this.counts.list.objects++;
        yield info;
      }
    } catch (err) {
      this.counts.list.errors++;
      throw err;
    }
  }

  delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    this.counts.delete.objects += keys.length;
    return this.track('delete', () => this.inner.delete(keys, options));
  }

  private async track<T>(op: StoreOperation, call: () => Promise<T>): Promise<T> {
    this.counts[op].requests++;
    try {
      return await call();
    } catch (err) {
      this.counts[op].errors++;
      throw err;
    }
  }
}

/** An all-zero RequestCounts. */
export function emptyCounts(): RequestCounts {
  return Object.fromEntries(OPERATIONS.map((op) => [op, { requests: 0, errors: 0, bytes: 0, objects: 0 }])) as RequestCounts;
}

/** `source` piped through a transform that reports each chunk's size; errors travel downstream. */
function countBytes(source: Readable, add: (n: number) => void): Readable {
  const counter = new Transform({
    transform(chunk: Buffer | string, _encoding: BufferEncoding, done: TransformCallback) {
      add(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length);
      done(null, chunk);
    },
  });
  pipeline(source, counter, () => undefined);
  return counter;
}
