import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import pino from 'pino';
import { expect } from 'vitest';
import { parseSegmentKey, type SegmentKey } from '../../../src/format/db-wal-keys.js';
import type { Logger } from '../../../src/log/logger.js';
import { WalShipper } from '../../../src/sqlite/wal/wal-shipper.js';
import type { GetOptions, ObjectStore } from '../../../src/store/object-store.js';
import { S3Store } from '../../../src/store/s3-store.js';
import { TransientStoreError } from '../../../src/store/store-errors.js';
import { createTestBucket, testS3 } from '../../support/test-s3.js';
import { CountingStore } from '../counting-store.js';
import { openApp } from './wal-helpers.js';

/** The two backends every replica test runs on. */
export const BACKENDS = ['fs', 's3'] as const;
export type Backend = (typeof BACKENDS)[number];

let bucket: Promise<string> | undefined;

/**
 * A store for one test on `backend`: the scratch file store as it is, or a fresh prefix of one
 * bucket on the test S3 server (created once per file). `close` releases S3 connections.
 */
export async function storeFor(backend: Backend, fsStore: CountingStore): Promise<{ store: CountingStore; close(): void }> {
  if (backend === 'fs') return { store: fsStore, close: () => undefined };
  bucket ??= createTestBucket('wal-restore');
  const config = testS3();
  const s3 = new S3Store({
    bucket: await bucket,
    prefix: `p-${randomBytes(4).toString('hex')}/`,
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
  });
  return { store: new CountingStore(s3), close: () => s3.destroy() };
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3));

/** Every WAL segment key under `db/<name>/`, in shipping order. */
export async function segmentKeys(store: ObjectStore, name: string): Promise<SegmentKey[]> {
  const keys: SegmentKey[] = [];
  for await (const info of store.list(`db/${name}/`)) {
    const parsed = parseSegmentKey(info.key);
    if (parsed) keys.push(parsed);
  }
  return keys.sort((a, b) => a.epoch - b.epoch || a.first - b.first);
}

/**
 * Ships one generation with the real WalShipper: a snapshot of the database as it is, then one
 * segment per batch of `rowsPerSegment` commits (each row its own transaction). Returns the new
 * generation's segments in order. The shipper is stopped afterwards (no final sync).
 */
export async function shipGeneration(
  store: ObjectStore,
  options: { name: string; path: string; stateDir: string; segments: number; rowsPerSegment: number },
): Promise<{ generation: string; segments: SegmentKey[] }> {
  const before = new Set((await segmentKeys(store, options.name)).map((s) => s.key));
  const app = openApp(options.path);
  const shipper = new WalShipper({ store, name: options.name, path: options.path, stateDir: options.stateDir });
  try {
    const first = await shipper.syncOnce();
    if (first.outcome !== 'synced' || !first.newGeneration) throw new Error(`expected a new generation, got ${JSON.stringify(first)}`);
    for (let i = 0; i < options.segments; i++) {
      await tick();
      app.commit(options.rowsPerSegment);
      const result = await shipper.syncOnce();
      expect(result).toMatchObject({ outcome: 'synced', segments: 1 });
      await tick();
    }
    const segments = (await segmentKeys(store, options.name)).filter((s) => !before.has(s.key));
    expect(segments).toHaveLength(options.segments);
    for (let i = 1; i < segments.length; i++)
      expect(segments[i]!.shippedAt.getTime()).toBeGreaterThan(segments[i - 1]!.shippedAt.getTime());
    return { generation: first.newGeneration.generation, segments };
  } finally {
    await shipper.stop({ final: false });
    app.close();
  }
}

/** Replaces a segment object with one whose gzip stream is valid but one byte of a frame is flipped (its sha256 no longer matches). */
export async function corruptSegment(store: ObjectStore, key: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(chunk as Buffer);
  const body = gunzipSync(Buffer.concat(chunks));
  body[200]! ^= 0xff;
  await store.put(key, gzipSync(body));
}

/** A logger that keeps every line at `warn` and above, parsed. */
export function capturingLogger(): { logger: Logger; warnings: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }) as Logger;
  return { logger, warnings: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** A store whose GET bodies of chosen keys break off once, halfway, with a transient error (a connection reset mid-download). */
export class BreakingBodyStore extends CountingStore {
  readonly gets = new Map<string, number>();
  private readonly toBreak: Set<string>;

  constructor(inner: ObjectStore, breakOnce: readonly string[]) {
    super(inner);
    this.toBreak = new Set(breakOnce);
  }

  override async get(key: string, options?: GetOptions): Promise<Readable> {
    this.gets.set(key, (this.gets.get(key) ?? 0) + 1);
    const body = await super.get(key, options);
    if (!this.toBreak.delete(key)) return body;
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    const all = Buffer.concat(chunks);
    return Readable.from(
      (async function* () {
        yield all.subarray(0, all.length >> 1);
        throw new TransientStoreError(`connection reset while reading ${key}`, { op: 'get', path: key });
      })(),
    );
  }
}
