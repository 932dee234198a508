import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import type { GetObjectCommandOutput, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
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
import { NotFoundError, PermanentStoreError, PreconditionFailedError } from './store-errors.js';
import { createS3Client } from './s3-client.js';
import { s3Sdk } from './s3-sdk.js';
import { S3HandlerCache } from './s3-handler-cache.js';
import { PartBufferPool } from './part-buffer-pool.js';
import { addContentMd5 } from './s3-content-md5.js';
import { mapS3Error, type S3ErrorContext } from './s3-error-mapping.js';
import { uploadStream, type S3Send } from './s3-multipart.js';
import { normalizeEtag } from './normalize-etag.js';
import { printableEndpoint } from './printable-endpoint.js';

/** How to reach a bucket and how to talk to it. */
export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket (`app/` or empty); keys given to the store are relative to it. */
  prefix: string;
  /** Custom endpoint (R2, MinIO, Ceph, GCS, ...); AWS when omitted. */
  endpoint?: string;
  region: string;
  /** Path-style addressing (`endpoint/bucket/key`), which custom endpoints want. */
  forcePathStyle: boolean;
  /** Static keys or a provider; the AWS default chain when omitted. */
  credentials?: S3ClientConfig['credentials'];
  /** Part size of multipart uploads (default 8 MiB, at least 5 MiB on real S3). */
  partSize?: number;
  /**
   * Parts uploaded at once per stream (default 4). Part buffers are shared by all uploads of the store:
   * at most partSize × this bytes, however many large files upload at once.
   */
  multipartConcurrency?: number;
  /** Socket inactivity timeout per request (default 30 s). */
  requestTimeoutMs?: number;
  /** `auto`: send conditions and let `probeConditionalWrites()` find out; `off`: check with HEAD first (not atomic). */
  conditionalWrites?: 'auto' | 'on' | 'off';
}

const MAX_DELETE_BATCH = 1000;
const PROBE_DIR = '.persistd-probe/';
/** Largest object a single CopyObject may copy. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;

/** An ObjectStore on an S3-compatible bucket (AWS S3, R2, GCS XML API, MinIO, Ceph RGW, B2, ...). */
export class S3Store implements ObjectStore {
  readonly description: string;
  readonly capabilities: StoreCapabilities;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  /** The SDK's command classes (loaded with the first S3Store: see s3-sdk.ts). */
  private readonly sdk = s3Sdk();
  /** The hot operations (put, get, head, part uploads) go through chains resolved once. */
  private readonly handlers: S3HandlerCache;
  private readonly endpoint: string;
  private readonly partSize: number;
  private readonly multipartConcurrency: number;
  /** The part buffers of multipart uploads, shared by all of them (`inUse` for diagnostics and tests). */
  readonly partBuffers: PartBufferPool;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
    this.endpoint = printableEndpoint(options.endpoint, options.region);
    this.description = `s3://${this.bucket}/${this.prefix} at ${this.endpoint}`;
    this.partSize = options.partSize ?? 8 * 1024 * 1024;
    this.multipartConcurrency = Math.max(1, options.multipartConcurrency ?? 4);
    // As many as one upload sends at once: several large files share them (the server's bandwidth, not
    // the number of parts in flight, bounds their total speed).
    this.partBuffers = new PartBufferPool(this.partSize, this.multipartConcurrency);
    const mode = options.conditionalWrites ?? 'auto';
    this.capabilities = { conditionalWrites: mode === 'auto' ? 'unknown' : mode === 'on' };
    this.client = createS3Client(options);
    this.handlers = new S3HandlerCache(this.client);
  }

  /** Closes the client's sockets; the store cannot be used afterwards. */
  destroy(): void {
    this.client.destroy();
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    // The stream may fail before we start reading it; its error then surfaces from the upload.
    if (body instanceof Readable) body.on('error', () => undefined);
    const emulate = this.capabilities.conditionalWrites === false && (options.ifNoneMatch !== undefined || options.ifMatch !== undefined);
    if (emulate) await this.checkConditionWithHead(key, options);
    return this.putObject(key, body, emulate ? { ...options, ifNoneMatch: undefined, ifMatch: undefined } : options);
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    return (await this.getObject(key, options)).body;
  }

  async getWithInfo(key: string, options: GetOptions = {}): Promise<ObjectWithInfo> {
    const { answer, body } = await this.getObject(key, options);
    // A ranged answer's Content-Length is the range's; the whole size is after the `/` of Content-Range.
    const total = /\/(\d+)$/.exec(answer.ContentRange ?? '')?.[1];
    const info: ObjectInfo = {
      key,
      size: total !== undefined ? Number(total) : (answer.ContentLength ?? 0),
      etag: normalizeEtag(answer.ETag),
      lastModified: answer.LastModified ?? new Date(0),
      metadata: { ...(answer.Metadata ?? {}) },
    };
    return { info, body };
  }

  async copy(sourceKey: string, destKey: string, options: CopyOptions = {}): Promise<void> {
    // CopySource is `bucket/key`, URL-encoded by the caller (the SDK sends it as a header as is).
    const source = `${this.bucket}/${(this.prefix + sourceKey).split('/').map(encodeURIComponent).join('/')}`;
    try {
      await this.send('copy', destKey, options.signal, (abortSignal) =>
        this.client.send(
          new this.sdk.CopyObjectCommand({
            Bucket: this.bucket,
            Key: this.prefix + destKey,
            CopySource: source,
            ...(options.metadata === undefined
              ? { MetadataDirective: 'COPY' }
              : { MetadataDirective: 'REPLACE', Metadata: { ...options.metadata } }),
          }),
          { abortSignal },
        ),
      );
    } catch (err) {
      // A 404 names the missing source, not the destination.
      if (err instanceof NotFoundError) throw new NotFoundError(sourceKey, { op: 'copy' });
      // CopyObject stops at 5 GiB: larger objects are streamed through (GET, multipart PUT).
      if (err instanceof PermanentStoreError && err.status === 400) {
        const info = await this.head(sourceKey, { signal: options.signal });
        if (info !== undefined && info.size > MAX_COPY_BYTES) {
          const { body } = await this.getObject(sourceKey, { signal: options.signal });
          await this.putObject(destKey, body, { metadata: options.metadata ?? info.metadata, signal: options.signal });
          return;
        }
      }
      throw err;
    }
  }

  async head(key: string, options: RequestOptions = {}): Promise<ObjectInfo | undefined> {
    try {
      const answer = await this.send('head', key, options.signal, (abortSignal) =>
        this.handlers.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), abortSignal),
      );
      return {
        key,
        size: answer.ContentLength ?? 0,
        etag: normalizeEtag(answer.ETag),
        lastModified: answer.LastModified ?? new Date(0),
        metadata: { ...(answer.Metadata ?? {}) },
      };
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.send('list', prefix, options.signal, (abortSignal) =>
        this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            StartAfter: token === undefined && options.startAfter !== undefined ? this.prefix + options.startAfter : undefined,
            ContinuationToken: token,
            MaxKeys: 1000,
          }),
          { abortSignal },
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key.slice(this.prefix.length),
          size: object.Size ?? 0,
          etag: normalizeEtag(object.ETag),
          lastModified: object.LastModified ?? new Date(0),
        };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(keys: readonly string[], options: RequestOptions = {}): Promise<void> {
    for (let i = 0; i < keys.length; i += MAX_DELETE_BATCH) {
      const batch = keys.slice(i, i + MAX_DELETE_BATCH);
      const answer = await this.send('delete', batch.length === 1 ? batch[0] : undefined, options.signal, (abortSignal) =>
        this.client.send(
          addContentMd5(
            new this.sdk.DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: batch.map((key) => ({ Key: this.prefix + key })), Quiet: true },
            }),
          ),
          { abortSignal },
        ),
      );
      const failed = (answer.Errors ?? []).filter((error) => error.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0]!;
        const cause = Object.assign(new Error(first.Code ?? 'error'), { name: first.Code ?? 'Error', Code: first.Code });
        throw mapS3Error(cause, this.context('delete', first.Key?.slice(this.prefix.length)));
      }
    }
  }

  /**
   * Finds out whether the server honours `If-None-Match: *` by writing a probe key twice under
   * `.persistd-probe/` (the second must get 412), removes it, and records the answer in `capabilities`.
   */
  async probeConditionalWrites(signal?: AbortSignal): Promise<boolean> {
    const key = `${PROBE_DIR}${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    let supported: boolean;
    try {
      await this.putObject(key, 'probe', { ifNoneMatch: '*', signal });
      try {
        await this.putObject(key, 'probe again', { ifNoneMatch: '*', signal });
        supported = false;
      } catch (err) {
        if (err instanceof PreconditionFailedError) supported = true;
        else if (err instanceof PermanentStoreError && (err.status === 501 || err.status === 400)) supported = false;
        else throw err;
      }
    } catch (err) {
      if (!(err instanceof PermanentStoreError && (err.status === 501 || err.status === 400))) throw err;
      supported = false; // the server rejects the header outright
    } finally {
      await this.delete([key]).catch(() => undefined);
    }
    this.capabilities.conditionalWrites = supported;
    return supported;
  }

  private async getObject(key: string, options: GetOptions): Promise<{ answer: GetObjectCommandOutput; body: Readable }> {
    const range = options.range === undefined ? undefined : `bytes=${options.range.start}-${options.range.end ?? ''}`;
    const answer = await this.send('get', key, options.signal, (abortSignal) =>
      this.handlers.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Range: range }), abortSignal),
    );
    if (!(answer.Body instanceof Readable))
      throw new PermanentStoreError(`get ${key} failed: the response has no body stream`, { op: 'get', path: key });
    return { answer, body: this.mappedBody(answer.Body, key) };
  }

  private async putObject(key: string, body: PutBody, options: PutOptions): Promise<ObjectInfo> {
    const fullKey = this.prefix + key;
    const ifMatch = options.ifMatch === undefined ? undefined : normalizeEtag(options.ifMatch); // RGW matches only the bare ETag
    const metadata = { ...(options.metadata ?? {}) };
    const putSingle = async (bytes: Buffer | Readable, length: number, bodyFailed?: AbortSignal): Promise<string> => {
      const signal =
        bodyFailed === undefined
          ? options.signal
          : options.signal === undefined
            ? bodyFailed
            : AbortSignal.any([options.signal, bodyFailed]);
      const answer = await this.send('put', key, signal, (abortSignal) =>
        this.handlers.send(
          new this.sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key: fullKey,
            Body: bytes,
            ContentLength: length,
            ContentType: options.contentType,
            Metadata: metadata,
            IfNoneMatch: options.ifNoneMatch,
            IfMatch: ifMatch,
          }),
          abortSignal,
        ),
      );
      return normalizeEtag(answer.ETag);
    };
    try {
      let etag: string;
      let size: number;
      if (!(body instanceof Readable)) {
        const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        [etag, size] = [await putSingle(bytes, bytes.length), bytes.length];
      } else if (options.contentLength !== undefined && options.contentLength <= this.partSize) {
        [etag, size] = [await this.putKnownLengthStream(body, options.contentLength, putSingle), options.contentLength];
      } else {
        const send: S3Send = (call) => this.send('put', key, options.signal, call);
        ({ etag, size } = await uploadStream(
          {
            client: this.client,
            handlers: this.handlers,
            send,
            bucket: this.bucket,
            key: fullKey,
            metadata,
            contentType: options.contentType,
            ifNoneMatch: options.ifNoneMatch,
            ifMatch,
            buffers: this.partBuffers,
            concurrency: this.multipartConcurrency,
            signal: options.signal,
            putSingle: (bytes) => putSingle(bytes, bytes.length),
            headEtag: async () => (await this.head(key, { signal: options.signal }))?.etag ?? '',
          },
          body,
        ));
      }
      return { key, size, etag, lastModified: new Date(), metadata };
    } catch (err) {
      // Some servers answer If-Match on a missing key with 404; the contract says "precondition failed".
      if (err instanceof NotFoundError && ifMatch !== undefined) throw new PreconditionFailedError(key, { op: 'put' });
      throw err;
    }
  }

  /**
   * The SDK pipes a stream body into the request, and a pipe does not pass errors on: a failing
   * source would leave the request waiting for the socket timeout. Abort it instead, and report the
   * source's error rather than the abort.
   */
  private async putKnownLengthStream(
    body: Readable,
    length: number,
    putSingle: (bytes: Readable, length: number, signal?: AbortSignal) => Promise<string>,
  ): Promise<string> {
    const controller = new AbortController();
    const onError = (err: Error): void => controller.abort(err);
    body.once('error', onError);
    try {
      return await putSingle(body, length, controller.signal);
    } catch (err) {
      throw body.errored ?? err;
    } finally {
      body.off('error', onError);
    }
  }

  private async checkConditionWithHead(key: string, options: PutOptions): Promise<void> {
    const current = await this.head(key, { signal: options.signal });
    const stale = options.ifMatch !== undefined && current?.etag !== normalizeEtag(options.ifMatch);
    if ((options.ifNoneMatch === '*' && current !== undefined) || stale) throw new PreconditionFailedError(key, { op: 'put' });
  }

  /**
   * The body of a GET: one that breaks while it is read (reset, cut short, stalled) fails with a
   * StoreError that names the key and says whether a retry may help, like every other store failure.
   */
  private mappedBody(body: Readable, key: string): Readable {
    const out = new PassThrough();
    body.on('error', (err) => out.destroy(mapS3Error(err, this.context('get', key))));
    out.on('close', () => {
      if (!body.destroyed) body.destroy();
    });
    return body.pipe(out);
  }

  /** Runs one SDK call and maps whatever it throws; `key` is relative to the prefix. */
  private async send<T>(
    op: string,
    key: string | undefined,
    signal: AbortSignal | undefined,
    call: (abortSignal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    signal?.throwIfAborted();
    // The SDK adds an abort listener per request in flight; a restore's parallel downloads (files, WAL segments)
    // all share the command's one signal: not a leak, so no MaxListenersExceededWarning.
    if (signal) setMaxListeners(0, signal);
    try {
      return await call(signal);
    } catch (err) {
      throw mapS3Error(err, this.context(op, key));
    }
  }

  private context(op: string, key: string | undefined): S3ErrorContext {
    return { op, bucket: this.bucket, prefix: this.prefix, key, endpoint: this.endpoint };
  }
}
