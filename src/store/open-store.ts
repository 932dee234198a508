import type { Logger } from '../log/logger.js';
import { AgeStore, type AgeKeys } from './age-store.js';
import type { ObjectStore } from './object-store.js';
import { CountingStore } from './counting-store.js';
import { FsStore } from './fs-store.js';
import { LimitedStore } from './limited-store.js';
import type { RetryPolicy } from './retry-policy.js';
import { RetryingStore } from './retrying-store.js';
import { S3Store, type S3StoreOptions } from './s3-store.js';

/** Where a replica lives: a directory (`file://`) or an S3-compatible bucket. */
export type StoreTarget = { kind: 'fs'; root: string } | ({ kind: 's3' } & S3StoreOptions);

/** How the opened store behaves. */
export interface OpenStoreOptions {
  /** Requests in flight at most (default 8). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** Where retries are reported, at `debug` (in an outage every request retries; the final failure is the caller's to report). */
  logger?: Pick<Logger, 'debug'>;
  /** The replica's age keys; without them objects are stored as they are and an encrypted replica is refused. */
  age?: AgeKeys;
}

/** An opened replica store and the parts of it some callers need. */
export interface OpenedStore {
  /** The store to use: retries, concurrency limit and counting included. */
  store: ObjectStore;
  /** The request counts (`counting.snapshot()`), for status and metrics. */
  counting: CountingStore;
  /** The backend itself, e.g. for `backend.probeConditionalWrites()`. */
  backend: FsStore | S3Store;
  /** Releases connections; the store cannot be used afterwards. */
  close(): void;
}

/** Default of `OpenStoreOptions.concurrency`. */
export const DEFAULT_STORE_CONCURRENCY = 8;

/**
 * Opens the backend for `target` and wraps it as AgeStore(RetryingStore(LimitedStore(CountingStore(backend)))):
 * encryption outermost so a retry sends the same ciphertext again and every request below sees only
 * ciphertext, retries next so a backoff wait does not hold a concurrency slot, and counting innermost
 * so every attempt that reaches the backend is counted (each one is a billed request).
 */
export function openStore(target: StoreTarget, options: OpenStoreOptions = {}): OpenedStore {
  const backend = target.kind === 'fs' ? new FsStore(target.root) : new S3Store(target);
  const counting = new CountingStore(backend);
  const limited = new LimitedStore(counting, options.concurrency ?? DEFAULT_STORE_CONCURRENCY);
  const logger = options.logger;
  const retrying = new RetryingStore(limited, {
    policy: options.retry,
    onRetry:
      logger === undefined
        ? undefined
        : (op, err, attempt, delayMs) =>
            logger.debug({ op, path: err.path, attempt, delayMs, error: err.message }, `store ${op} failed, retrying in ${delayMs} ms`),
  });
  const store = new AgeStore(retrying, options.age ?? { recipients: [], identities: [] });
  return { store, counting, backend, close: () => (backend instanceof S3Store ? backend.destroy() : undefined) };
}
