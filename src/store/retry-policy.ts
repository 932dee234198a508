import { StoreError } from './store-errors.js';

/** How often and how long a failed store request is retried. */
export interface RetryPolicy {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  /** Cap of the first backoff; doubles with every attempt up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** No new attempt starts once this much time has passed since the first. */
  maxElapsedMs: number;
}

/** Defaults: 6 attempts over at most ~1 minute, backoff capped at 10 s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 10_000, maxElapsedMs: 60_000 };

/** Called before each retry; for logging. */
export type RetryListener = (err: StoreError, attempt: number, delayMs: number) => void;

/** Backoff before retry number `attempt` (1-based) with full jitter: uniform in [0, min(max, base·2^(attempt-1))]. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * cap);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Options of `retryTransient`. */
export interface RetryTransientOptions {
  signal?: AbortSignal;
  onRetry?: RetryListener;
  /** For tests: a source of randomness for the jitter. */
  random?: () => number;
}

/**
 * Runs `attempt` until it succeeds, retrying only errors marked transient (TransientStoreError and
 * any StoreError with `transient`), within the policy's attempt and time bounds. Anything else,
 * and an aborted signal, ends it at once.
 */
export async function retryTransient<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryTransientOptions = {},
): Promise<T> {
  const started = Date.now();
  for (let n = 1; ; n++) {
    options.signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (err) {
      options.signal?.throwIfAborted(); // the caller stopped waiting: its reason matters more than this failure
      if (!(err instanceof StoreError) || !err.transient) throw err;
      if (n >= policy.maxAttempts) throw err;
      const delayMs = backoffDelay(n, policy, options.random);
      if (Date.now() - started + delayMs > policy.maxElapsedMs) throw err;
      options.onRetry?.(err, n, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
}
