import type { Readable } from 'node:stream';
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
import { Semaphore } from './semaphore.js';

/**
 * Lets at most `limit` requests reach the inner store at once; the rest wait in line. A `get` holds
 * its slot until the response stream is handed out, not while it is read (holding it longer would
 * deadlock a caller that opens several streams before reading them). Listings are not limited.
 */
export class LimitedStore implements ObjectStore {
  private readonly semaphore: Semaphore;

  constructor(
    private readonly inner: ObjectStore,
    limit: number,
  ) {
    this.semaphore = new Semaphore(limit);
  }

  get description(): string {
    return this.inner.description;
  }

  get capabilities(): StoreCapabilities {
    return this.inner.capabilities;
  }

  /** Requests running in the inner store right now. */
  get inFlight(): number {
    return this.semaphore.inUse;
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo> {
    return this.semaphore.run(() => this.inner.put(key, body, options), options?.signal);
  }

  get(key: string, options?: GetOptions): Promise<Readable> {
    return this.semaphore.run(() => this.inner.get(key, options), options?.signal);
  }

  getWithInfo(key: string, options?: GetOptions): Promise<ObjectWithInfo> {
    return this.semaphore.run(() => this.inner.getWithInfo(key, options), options?.signal);
  }

  copy(sourceKey: string, destKey: string, options?: CopyOptions): Promise<void> {
    return this.semaphore.run(() => this.inner.copy(sourceKey, destKey, options), options?.signal);
  }

  head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    return this.semaphore.run(() => this.inner.head(key, options), options?.signal);
  }

  /** Not limited: a listing has at most one page request in flight, and taking a slot per item would crawl under load. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }

  delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    return this.semaphore.run(() => this.inner.delete(keys, options), options?.signal);
  }
}
