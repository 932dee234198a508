import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
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
import { NotFoundError, TransientStoreError } from '../../src/store/store-errors.js';

/** Wraps a real store and counts requests by kind and key; can fail a share of requests to test retries. */
export class CountingStore implements ObjectStore {
  readonly counts = { put: 0, get: 0, head: 0, list: 0, delete: 0, copy: 0 };
  readonly putsByKey = new Map<string, number>();
  failRate = 0;

  constructor(private readonly inner: ObjectStore) {}

  get description(): string {
    return this.inner.description;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  private maybeFail(op: string): void {
    if (this.failRate > 0 && Math.random() < this.failRate) throw new TransientStoreError(`${op} failed: injected fault`, { op });
  }

  async put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo> {
    this.counts.put++;
    this.maybeFail('put');
    this.putsByKey.set(key, (this.putsByKey.get(key) ?? 0) + 1);
    return this.inner.put(key, body, options);
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    this.counts.get++;
    this.maybeFail('get');
    return this.inner.get(key, options);
  }

  /** Counted as a `get`: it is one GET request. */
  async getWithInfo(key: string, options?: GetOptions): Promise<ObjectWithInfo> {
    this.counts.get++;
    this.maybeFail('get');
    return this.inner.getWithInfo(key, options);
  }

  async copy(sourceKey: string, destKey: string, options?: CopyOptions): Promise<void> {
    this.counts.copy++;
    this.maybeFail('copy');
    this.putsByKey.set(destKey, (this.putsByKey.get(destKey) ?? 0) + 1);
    return this.inner.copy(sourceKey, destKey, options);
  }

  async head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    this.counts.head++;
    this.maybeFail('head');
    return this.inner.head(key, options);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    this.counts.list++;
    return this.inner.list(prefix, options);
  }

  async delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    this.counts.delete++;
    this.maybeFail('delete');
    return this.inner.delete(keys, options);
  }
}

/**
 * A minimal in-memory ObjectStore for the few cases a real backend cannot hold (keys with `..` or a
 * leading `/`, which FsStore refuses): a hostile bucket written by someone else.
 */
export class MemoryStore implements ObjectStore {
  readonly description = 'memory';
  readonly capabilities = { conditionalWrites: false };
  private readonly objects = new Map<string, { data: Buffer; metadata: Record<string, string>; at: Date }>();

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    let data: Buffer;
    if (body instanceof Readable) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(Buffer.from(c as Buffer));
      data = Buffer.concat(chunks);
    } else data = Buffer.from(body as Buffer);
    const at = new Date();
    this.objects.set(key, { data, metadata: { ...(options.metadata ?? {}) }, at });
    return { key, size: data.length, etag: md5(data), lastModified: at, metadata: { ...(options.metadata ?? {}) } };
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const o = this.objects.get(key);
    if (!o) throw new NotFoundError(key);
    const r = options.range;
    return Readable.from([r ? o.data.subarray(r.start, (r.end ?? o.data.length - 1) + 1) : o.data]);
  }

  async getWithInfo(key: string, options: GetOptions = {}): Promise<ObjectWithInfo> {
    const info = await this.head(key);
    if (!info) throw new NotFoundError(key);
    return { info, body: await this.get(key, options) };
  }

  async copy(sourceKey: string, destKey: string, options: CopyOptions = {}): Promise<void> {
    const o = this.objects.get(sourceKey);
    if (!o) throw new NotFoundError(sourceKey);
    this.objects.set(destKey, { data: o.data, metadata: { ...(options.metadata ?? o.metadata) }, at: new Date() });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const o = this.objects.get(key);
    return o && { key, size: o.data.length, etag: md5(o.data), lastModified: o.at, metadata: { ...o.metadata } };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const key of [...this.objects.keys()].sort()) {
      const o = this.objects.get(key)!;
      if (key.startsWith(prefix)) yield { key, size: o.data.length, etag: md5(o.data), lastModified: o.at };
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
  }
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}
