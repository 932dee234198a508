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
} from '../../src/store/object-store.js';

/** Wraps a store and counts requests by kind; `failNext` makes calls fail on purpose. */
export class CountingStore implements ObjectStore {
  readonly counts = { put: 0, get: 0, head: 0, list: 0, delete: 0 };
  readonly puts: string[] = [];

  constructor(readonly inner: ObjectStore) {}

  get description(): string {
    return this.inner.description;
  }

  get capabilities(): ObjectStore['capabilities'] {
    return this.inner.capabilities;
  }

  /** Total of every kind of request. */
  total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo> {
    this.counts.put++;
    this.puts.push(key);
    return this.inner.put(key, body, options);
  }

  get(key: string, options?: GetOptions): Promise<Readable> {
    this.counts.get++;
    return this.inner.get(key, options);
  }

  getWithInfo(key: string, options?: GetOptions): Promise<ObjectWithInfo> {
    this.counts.get++;
    return this.inner.getWithInfo(key, options);
  }

  copy(sourceKey: string, destKey: string, options?: CopyOptions): Promise<void> {
    this.counts.put++;
    this.puts.push(destKey);
    return this.inner.copy(sourceKey, destKey, options);
  }

  head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    this.counts.head++;
    return this.inner.head(key, options);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    this.counts.list++;
    return this.inner.list(prefix, options);
  }

  delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    this.counts.delete++;
    return this.inner.delete(keys, options);
  }
}
