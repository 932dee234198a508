import { PersistdError, type PersistdErrorOptions } from '../errors.js';

/** Base of every error an ObjectStore raises; `transient` says whether retrying the same request may succeed. */
export class StoreError extends PersistdError {
  readonly transient: boolean;
  /** HTTP status or errno-like code from the backend, when there is one. */
  readonly status: number | undefined;

  constructor(message: string, transient: boolean, options: PersistdErrorOptions & { status?: number } = {}) {
    super(message, { kind: 'storage', ...options });
    this.name = 'StoreError';
    this.transient = transient;
    this.status = options.status;
  }
}

/** The key does not exist (GET/HEAD of a missing object). Never retried. */
export class NotFoundError extends StoreError {
  constructor(key: string, options: PersistdErrorOptions = {}) {
    super(`object not found: ${key}`, false, { path: key, ...options, status: 404 });
    this.name = 'NotFoundError';
  }
}

/** A conditional write lost: `ifNoneMatch: '*'` on an existing key, or `ifMatch` with a stale ETag. Never retried. */
export class PreconditionFailedError extends StoreError {
  constructor(key: string, options: PersistdErrorOptions = {}) {
    super(`precondition failed (the object changed or already exists): ${key}`, false, { path: key, ...options, status: 412 });
    this.name = 'PreconditionFailedError';
  }
}

/** A failure retrying will not fix: wrong credentials, missing bucket, access denied, bad request. */
export class PermanentStoreError extends StoreError {
  constructor(message: string, options: PersistdErrorOptions & { status?: number } = {}) {
    super(message, false, options);
    this.name = 'PermanentStoreError';
  }
}

/** A failure that may pass: network error, timeout, 5xx, throttling. Retried by RetryingStore. */
export class TransientStoreError extends StoreError {
  constructor(message: string, options: PersistdErrorOptions & { status?: number } = {}) {
    super(message, true, options);
    this.name = 'TransientStoreError';
  }
}
