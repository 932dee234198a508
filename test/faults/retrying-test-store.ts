import { Readable } from 'node:stream';
import { StoreError } from '../../src/store/store-errors.js';
import type { GetOptions, ListOptions, ObjectInfo, ObjectStore, PutBody, PutOptions, RequestOptions, StoreCapabilities } from '../../src/store/object-store.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, retryTransient, sleep, type RetryPolicy } from '../../src/store/retry-policy.js';

/**
 * A retry wrapper for these tests, standing in until src/store/open-store.ts lands: retries transient
 * errors with the project's `retryTransient`; a stream body is sent once (it cannot be replayed).
 * `list` restarts a failed page after the last key it yielded.
 */
export class RetryingTestStore implements ObjectStore {
  retries = 0;

  constructor(
    private readonly inner: ObjectStore,
    private readonly policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  ) {}

  get description(): string {
    return this.inner.description;
  }

  get capabilities(): StoreCapabilities {
    return this.inner.capabilities;
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo> {
    if (body instanceof Readable) return this.inner.put(key, body, options);
    return this.retry(() => this.inner.put(key, body, options), options?.signal);
  }

  get(key: string, options?: GetOptions): Promise<Readable> {
    return this.retry(() => this.inner.get(key, options), options?.signal);
  }

  head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    return this.retry(() => this.inner.head(key, options), options?.signal);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let after = options.startAfter;
    for (let failures = 0; ; ) {
      try {
        // A failed page ends the inner iteration: go on with a new listing after the last key seen.
        for await (const item of this.inner.list(prefix, { ...options, startAfter: after })) {
          after = item.key;
          yield item;
        }
        return;
      } catch (err) {
        if (!(err instanceof StoreError) || !err.transient || ++failures >= this.policy.maxAttempts) throw err;
        this.retries++;
        await sleep(backoffDelay(failures, this.policy), options.signal);
      }
    }
  }

  delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    return this.retry(() => this.inner.delete(keys, options), options?.signal);
  }

  private retry<T>(attempt: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return retryTransient(attempt, this.policy, { signal, onRetry: () => void this.retries++ });
  }
}
