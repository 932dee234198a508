import type { Readable } from 'node:stream';

/** What a store knows about one object. `etag` is always unquoted. */
export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  /** User metadata (lower-case keys, without the `x-amz-meta-` prefix). Filled by `head` and `put`, not by `list`. */
  metadata?: Record<string, string>;
}

/** A body to store: bytes in memory, or a stream. A stream with `contentLength` unknown is uploaded in parts. */
export type PutBody = Buffer | Uint8Array | string | Readable;

/** Options of `ObjectStore.put`. */
export interface PutOptions {
  /** `'*'`: succeed only if the key does not exist yet, else PreconditionFailedError. */
  ifNoneMatch?: '*';
  /** Succeed only if the object's current ETag is this one, else PreconditionFailedError. */
  ifMatch?: string;
  /** User metadata; keys lower-case ASCII, values ASCII (encode anything else). */
  metadata?: Record<string, string>;
  contentType?: string;
  /** Byte length of a stream body, when known (lets a single request be used). */
  contentLength?: number;
  signal?: AbortSignal;
}

/** Options of `ObjectStore.get`. */
export interface GetOptions {
  /** Inclusive byte range; `end` omitted means to the end of the object. */
  range?: { start: number; end?: number };
  signal?: AbortSignal;
}

/** Options of `ObjectStore.list`. */
export interface ListOptions {
  /** Only keys strictly after this one (lexicographic, by UTF-8 bytes). */
  startAfter?: string;
  signal?: AbortSignal;
}

/** Options of `ObjectStore.copy`. */
export interface CopyOptions {
  /** User metadata of the copy (same rules as `PutOptions.metadata`); the source's metadata is kept when omitted. */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

/** An object's content together with its info and metadata, as one GET returns them. */
export interface ObjectWithInfo {
  /** Info with metadata; `size` is the whole object's size, also when a range was asked for. */
  info: ObjectInfo;
  body: Readable;
}

/** Options shared by `head` and `delete`. */
export interface RequestOptions {
  signal?: AbortSignal;
}

/** What a backend can and cannot do; probed or declared. */
export interface StoreCapabilities {
  /** Whether `ifNoneMatch`/`ifMatch` are honoured: true, false, or not yet probed. */
  conditionalWrites: boolean | 'unknown';
}

/**
 * Bytes in, bytes out, under string keys. No SQLite or file-tree knowledge lives behind this seam.
 * Errors: NotFoundError, PreconditionFailedError, PermanentStoreError, TransientStoreError (store-errors.ts).
 */
export interface ObjectStore {
  /** Where this store points, safe to print (never contains credentials). */
  readonly description: string;
  readonly capabilities: StoreCapabilities;
  /** Stores `body` under `key`, replacing any object there unless a condition says otherwise. */
  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo>;
  /** Streams the object (or a range of it). Throws NotFoundError when the key does not exist. */
  get(key: string, options?: GetOptions): Promise<Readable>;
  /** Streams the object (or a range of it) and returns its info and metadata from the same request. Throws NotFoundError when the key does not exist. */
  getWithInfo(key: string, options?: GetOptions): Promise<ObjectWithInfo>;
  /** The object's info with metadata, or undefined when the key does not exist. */
  head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in lexicographic key order, fetched page by page. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /**
   * Copies `sourceKey` to `destKey` inside the store without the bytes passing through persistd
   * (S3 CopyObject), replacing any object at `destKey`. Throws NotFoundError when the source does not exist.
   */
  copy(sourceKey: string, destKey: string, options?: CopyOptions): Promise<void>;
  /** Deletes the keys (batched by the backend); keys that do not exist are not an error. */
  delete(keys: readonly string[], options?: RequestOptions): Promise<void>;
}
