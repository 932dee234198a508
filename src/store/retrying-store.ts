import { setMaxListeners } from 'node:events';
import { Readable } from 'node:stream';
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
import { StoreError } from './store-errors.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, retryTransient, sleep, type RetryListener, type RetryPolicy } from './retry-policy.js';

/** Options of a RetryingStore. */
export interface RetryingStoreOptions {
  policy?: Partial<RetryPolicy>;
  /** Told about each retry (operation, error, attempt that failed, backoff), e.g. to log it. */
  onRetry?: (op: string, ...args: Parameters<RetryListener>) => void;
  /** For tests: randomness of the jitter. */
  random?: () => number;
}

/**
 * Retries transient failures (TransientStoreError) of the inner store with exponential backoff and
 * full jitter, within bounded attempts and time, and stops at once when the signal aborts.
 * A stream body cannot be rewound, so a put of a stream is tried once (the S3 backend retries the
 * buffered parts of a multipart upload itself); a get retries the request but never a stream
 * already handed out; a list resumes after the last key it yielded.
 */
export class RetryingStore implements ObjectStore {
  readonly policy: RetryPolicy;

  constructor(
    private readonly inner: ObjectStore,
    private readonly options: RetryingStoreOptions = {},
  ) {
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.policy };
  }

  get description(): string {
    return this.inner.description;
  }

  get capabilities(): StoreCapabilities {
    return this.inner.capabilities;
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo> {
    if (body instanceof Readable) return this.inner.put(key, body, options);
    return this.retry('put', options?.signal, () => this.inner.put(key, body, options));
  }

  get(key: string, options?: GetOptions): Promise<Readable> {
    return this.retry('get', options?.signal, () => this.inner.get(key, options));
  }

  getWithInfo(key: string, options?: GetOptions): Promise<ObjectWithInfo> {
    return this.retry('get', options?.signal, () => this.inner.getWithInfo(key, options));
  }

  /** Copying is idempotent, so a failed copy is simply sent again. */
  copy(sourceKey: string, destKey: string, options?: CopyOptions): Promise<void> {
    return this.retry('copy', options?.signal, () => this.inner.copy(sourceKey, destKey, options));
  }

  head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    return this.retry('head', options?.signal, () => this.inner.head(key, options));
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let startAfter = options.startAfter;
    let failures = 0;
    let firstFailureAt = 0;
    for (;;) {
      try {
        for await (const info of this.inner.list(prefix, { ...options, startAfter })) {
          startAfter = info.key;
          failures = 0; // progress: the next failure starts a fresh budget
          yield info;
        }
        return;
      } catch (err) {
        options.signal?.throwIfAborted();
        if (!(err instanceof StoreError) || !err.transient) throw err;
        if (failures === 0) firstFailureAt = Date.now();
        failures++;
        if (failures >= this.policy.maxAttempts) throw err;
        const delayMs = backoffDelay(failures, this.policy, this.options.random);
        if (Date.now() - firstFailureAt + delayMs > this.policy.maxElapsedMs) throw err;
        this.options.onRetry?.('list', err, failures, delayMs);
        await sleep(delayMs, options.signal);
      }
    }
  }

  delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    // Deleting is idempotent, so a batch that half-succeeded can simply be sent again.
    return this.retry('delete', options?.signal, () => this.inner.delete(keys, options));
  }

  private retry<T>(op: string, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    // Parallel requests (a restore's downloads, their body streams, backoff waits) share the caller's one signal,
    // each with an abort listener while it lasts: not a leak, so no MaxListenersExceededWarning past 10.
    if (signal) setMaxListeners(0, signal);
    return retryTransient(call, this.policy, {
      signal,
      random: this.options.random,
      onRetry: (err, attempt, delayMs) => this.options.onRetry?.(op, err, attempt, delayMs),
    });
  }
}
