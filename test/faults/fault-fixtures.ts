import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { openStore, type OpenedStore, type OpenStoreOptions } from '../../src/store/open-store.js';
import { S3Store, type S3StoreOptions } from '../../src/store/s3-store.js';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from '../support/fault-proxy/fault-proxy.js';
import { createTestBucket, rawS3Client, testS3 } from '../support/test-s3.js';

/** A proxy in front of the test server and a fresh bucket behind it. */
export interface ProxiedBucket {
  proxy: FaultProxy;
  bucket: string;
  /** A bare S3Store that talks through the proxy, on a prefix of its own; closed by `close`. */
  store(overrides?: Partial<S3StoreOptions>): S3Store;
  /** persistd's production stack (`openStore`: retries, limit, counting) through the proxy, on a prefix of its own. */
  open(overrides?: Partial<S3StoreOptions>, options?: OpenStoreOptions): OpenedStore & { backend: S3Store };
  close(): Promise<void>;
}

/** Seed of this run: `PERSISTD_FAULT_SEED=<n>` replays a failing one. */
export const FAULT_SEED = Number(process.env.PERSISTD_FAULT_SEED ?? 20_260_101);

/** Starts a proxy (no faults yet) in front of the test S3 server and creates a bucket named after `label`. */
export async function proxiedBucket(label: string, options: Partial<FaultProxyOptions> = {}): Promise<ProxiedBucket> {
  const s3 = testS3();
  const bucket = await createTestBucket(label);
  const keys = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const proxy = await startFaultProxy({ target: s3.endpoint, seed: FAULT_SEED, keys, ...options });
  const closers: Array<() => void> = [];
  const settings = (overrides: Partial<S3StoreOptions>): S3StoreOptions => ({
    bucket,
    prefix: `p-${randomBytes(3).toString('hex')}/`,
    endpoint: proxy.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: keys,
    ...overrides,
  });
  return {
    proxy,
    bucket,
    store(overrides = {}) {
      const store = new S3Store(settings(overrides));
      closers.push(() => store.destroy());
      return store;
    },
    open(overrides = {}, options = {}) {
      const opened = openStore({ kind: 's3', ...settings(overrides) }, options);
      closers.push(() => opened.close());
      return { ...opened, backend: opened.backend as S3Store };
    },
    async close() {
      for (const close of closers) close();
      await proxy.stop();
    },
  };
}

/** Reads a stream to the end. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** The bytes of an object read straight from the test server, bypassing the proxy and persistd. */
export async function rawObject(bucket: string, fullKey: string): Promise<Buffer> {
  const client = rawS3Client();
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey }));
    return Buffer.from(await answer.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}

/** Runs `fn` and returns what it threw (failing if it did not throw). */
export async function caught(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure, but the call succeeded');
}

/** A retry policy for tests: the default's shape with short waits, so a run under faults stays quick. */
export const FAST_RETRY = { maxAttempts: 8, baseDelayMs: 20, maxDelayMs: 200, maxElapsedMs: 10_000 };

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function inPool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A short fingerprint of bytes: comparing these is instant, where deep-equal on large buffers is slow and unreadable. */
export function digest(bytes: Buffer): string {
  return `${bytes.length}:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
}
