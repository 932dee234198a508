import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DeleteObjectsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeStore } from '../../src/commands/doctor-store-probes.js';
import { LineageGuard, newInstanceIdentity, readLineage } from '../../src/sqlite/lineage-guard.js';
import { runPersistd } from '../support/run-persistd.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { PreconditionFailedError } from '../../src/store/store-errors.js';
import type { ProviderQuirks } from '../support/fault-proxy/provider-quirks.js';
import { testS3 } from '../support/test-s3.js';
import { caught, digest, proxiedBucket, rawObject, readAll, type ProxiedBucket } from './fault-fixtures.js';

const proxies: ProxiedBucket[] = [];
afterAll(async () => Promise.all(proxies.map((p) => p.close())));

async function provider(label: string, quirks: ProviderQuirks): Promise<ProxiedBucket> {
  const p = await proxiedBucket(label, { quirks });
  proxies.push(p);
  return p;
}

/** A client with the SDK's own defaults (CRC32 checksums on every upload), aimed at the proxy. */
function sdkDefaultClient(endpoint: string): S3Client {
  const s3 = testS3();
  return new S3Client({
    endpoint,
    region: s3.region,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}

/** Everything an ordinary replica does, checked byte for byte against the server behind the proxy. */
async function exerciseStore(store: ObjectStore, prefix: string, bucket: string, options: { delete?: boolean } = {}): Promise<void> {
  const small = randomBytes(4096);
  const large = randomBytes(9 * 1024 * 1024); // a stream of unknown length over one 8 MiB part: multipart
  const put = await store.put('q/small', small, { metadata: { a: 'b' } });
  const putLarge = await store.put('q/large', Readable.from([large.subarray(0, 5 << 20), large.subarray(5 << 20)]));
  expect(digest(await readAll(await store.get('q/small')))).toBe(digest(small));
  expect(digest(await readAll(await store.get('q/large')))).toBe(digest(large));
  expect(digest(await rawObject(bucket, `${prefix}q/large`))).toBe(digest(large));
  const head = await store.head('q/small');
  expect(head?.etag).toBe(put.etag);
  expect(head?.metadata?.a).toBe('b');
  const listed = new Map<string, string>();
  for await (const o of store.list('q/')) listed.set(o.key, o.etag);
  expect([...listed.keys()]).toEqual(['q/large', 'q/small']);
  expect(listed.get('q/small')).toBe(put.etag);
  expect(listed.get('q/large')).toBe(putLarge.etag);
  if (options.delete === false) return;
  await store.delete(['q/small', 'q/large']);
  expect(await store.head('q/small')).toBeUndefined();
}

describe('persistd defaults against emulated provider quirks', () => {
  it('rejects x-amz-checksum-* / aws-chunked (R2, B2 with 2025 SDK defaults): put, multipart, get, head and list work; the SDK defaults would not', async () => {
    const p = await provider('quirk-checksum', { rejectChecksums: true });
    const { store, backend } = p.open();
    await exerciseStore(store, backend.prefix, p.bucket, { delete: false });
    expect(p.proxy.stats().injected).toEqual({});

    const client = sdkDefaultClient(p.proxy.endpoint);
    const err = await caught(() => client.send(new PutObjectCommand({ Bucket: p.bucket, Key: 'sdk-default', Body: 'x' })));
    client.destroy();
    expect(err.name).toBe('NotImplemented');
    expect(p.proxy.stats().injected['quirk rejectChecksums']).toBe(1); // only the SDK-default request
  });

  // Owner: src/store/s3-content-md5.ts. DeleteObjects is a "checksum required" operation, so even with
  // requestChecksumCalculation WHEN_REQUIRED the SDK adds `x-amz-sdk-checksum-algorithm: CRC32` and
  // `x-amz-checksum-crc32` next to the Content-MD5 persistd adds. A provider that rejects those headers
  // (the 2025 breakage) fails every delete: "the server does not implement this request: NotImplemented
  // (HTTP 400)", a message that names no setting. Fix: in the Content-MD5 middleware, once the checksum
  // middleware has run (e.g. addRelativeTo 'flexibleChecksumsMiddleware', relation 'after', or step
  // 'finalizeRequest' before signing), drop `x-amz-checksum-*` and `x-amz-sdk-checksum-algorithm`.
  it('rejects x-amz-checksum-*: deletes work too (DeleteObjects sends only Content-MD5)', async () => {
    const p = await provider('quirk-checksum-delete', { rejectChecksums: true });
    const { store } = p.open();
    await store.put('d', 'x');
    await store.delete(['d']);
    expect(await store.head('d')).toBeUndefined();
  });

  it('requires Content-MD5 on DeleteObjects (MinIO-style): persistd sends it; a plain SDK client does not', async () => {
    const p = await provider('quirk-md5', { requireDeleteMd5: true });
    const { store, backend } = p.open();
    await exerciseStore(store, backend.prefix, p.bucket);

    const client = sdkDefaultClient(p.proxy.endpoint);
    const err = await caught(() => client.send(new DeleteObjectsCommand({ Bucket: p.bucket, Delete: { Objects: [{ Key: 'x' }] } })));
    client.destroy();
    expect(err.name).toBe('MissingContentMD5');
    expect(p.proxy.stats().injected['quirk requireDeleteMd5']).toBe(1);
  });

  it('returns ETags unquoted: the same ETag from put, head and list; If-Match works with it', async () => {
    const p = await provider('quirk-etag', { unquotedEtags: true });
    const { store, backend } = p.open();
    await exerciseStore(store, backend.prefix, p.bucket);
    const first = await store.put('e', 'one');
    expect(first.etag).toMatch(/^[0-9a-f]{32}$/);
    const second = await store.put('e', 'two', { ifMatch: first.etag });
    expect(await caught(() => store.put('e', 'three', { ifMatch: first.etag }))).toBeInstanceOf(PreconditionFailedError);
    expect((await store.head('e'))?.etag).toBe(second.etag);
  });

  it('caps multipart concurrency at 2 (more parts at once: 503 SlowDown): the default upload (4 parts at once) still completes', async () => {
    const p = await provider('quirk-parts', { maxConcurrentParts: 2 });
    const { store, backend } = p.open();
    const body = randomBytes(33 * 1024 * 1024); // 5 parts of 8 MiB
    const chunks = Array.from({ length: 33 }, (_, i) => body.subarray(i << 20, (i + 1) << 20));
    await store.put('big', Readable.from(chunks));
    expect(digest(await rawObject(p.bucket, `${backend.prefix}big`))).toBe(digest(body));
    const stats = p.proxy.stats();
    expect(stats.maxConcurrentParts).toBeLessThanOrEqual(2);
    expect(stats.injected['quirk maxConcurrentParts']).toBeGreaterThan(0);
  });

  it('ignores If-None-Match / If-Match (overwrites): the probe reports false, doctor warns, and "off" mode refuses by HEAD', async () => {
    const p = await provider('quirk-nocond', { noConditionalWrites: true });
    const { store, backend } = p.open();
    expect(await backend.probeConditionalWrites()).toBe(false);
    expect(backend.capabilities.conditionalWrites).toBe(false);
    expect(p.proxy.stats().conditionsStripped).toBe(2);

    // Once probed, the store falls back to a HEAD check (not atomic, but it catches the common case).
    await store.put('lock', 'first', { ifNoneMatch: '*' });
    expect(await caught(() => store.put('lock', 'second', { ifNoneMatch: '*' }))).toBeInstanceOf(PreconditionFailedError);
    expect((await readAll(await store.get('lock'))).toString()).toBe('first');

    const fresh = p.open({ conditionalWrites: 'auto' });
    const checks = await probeStore(fresh.store, AbortSignal.timeout(20_000));
    const conditional = checks.find((c) => c.name === 'conditional writes');
    expect(conditional?.status).toBe('warn');
    expect(conditional?.detail).toMatch(/NOT honoured/);
    expect(checks.filter((c) => c.name !== 'conditional writes').map((c) => c.status)).toEqual(
      checks.filter((c) => c.name !== 'conditional writes').map(() => 'ok'),
    );
  });

  it('no conditional writes: the lineage pointer still fences an older instance (ETag check), and persistd run says so at start', async () => {
    const p = await provider('quirk-nocond-lineage', { noConditionalWrites: true });
    const { store, backend } = p.open();
    await backend.probeConditionalWrites();
    const older = new LineageGuard({ store, name: 'app.db', instance: newInstanceIdentity(new Date(Date.now() - 1000)) });
    const newer = new LineageGuard({ store, name: 'app.db', instance: newInstanceIdentity() });
    expect(await older.claim('20261122T100000000Z-0000000a', undefined)).toBe(true);
    expect(await newer.claim('20261122T100100000Z-0000000b', undefined)).toBe(true);
    expect(await older.check()).toBe('fenced');
    expect(await older.claim('20261122T100200000Z-0000000c', undefined)).toBe(false);
    expect((await readLineage(store, 'app.db'))?.pointer.generation).toBe('20261122T100100000Z-0000000b');

    const dir = await mkdtemp(join(tmpdir(), 'persistd-nocond-'));
    try {
      const s3 = testS3();
      const result = await runPersistd(
        [
          'run',
          '--to',
          `s3://${p.bucket}/run`,
          '--endpoint',
          p.proxy.endpoint,
          '--db',
          join(dir, 'app.db'),
          '--state-dir',
          join(dir, 'state'),
          '--',
          process.execPath,
          '-e',
          'setTimeout(() => {}, 200)',
        ],
        { env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region } },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain('the store does not support conditional writes');
      expect(result.stderr).not.toContain(s3.secretAccessKey);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('all quirks at once but checksum rejection (see above): doctor passes every probe but warns on conditional writes', async () => {
    const p = await provider('quirk-all', {
      requireDeleteMd5: true,
      unquotedEtags: true,
      maxConcurrentParts: 1,
      noConditionalWrites: true,
    });
    const { store, backend } = p.open();
    await exerciseStore(store, backend.prefix, p.bucket);
    const checks = await probeStore(store, AbortSignal.timeout(20_000));
    expect(Object.fromEntries(checks.map((c) => [c.name, c.status]))).toMatchObject({
      'replica reachable': 'ok',
      'put/get/list/delete probe': 'ok',
      'multipart upload probe': 'ok',
      'conditional writes': 'warn',
    });
  });
});
