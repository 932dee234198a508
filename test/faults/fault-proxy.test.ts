import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resignRequest } from '../support/fault-proxy/resign-request.js';
import { classifyRequest } from '../support/fault-proxy/s3-operation.js';
import { createSeededRandom } from '../support/fault-proxy/seeded-random.js';
import { testS3 } from '../support/test-s3.js';
import { proxiedBucket, rawObject, readAll, type ProxiedBucket } from './fault-fixtures.js';

let p: ProxiedBucket;
beforeAll(async () => {
  p = await proxiedBucket('proxy');
});
afterAll(async () => p?.close());

describe('fault proxy', () => {
  it('forwards byte for byte: SigV4 signatures made for the proxy host pass at the server', async () => {
    const store = p.store();
    const body = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    await store.put('dir/a b+c.bin', body, { metadata: { m: 'v' } });
    expect(await readAll(await store.get('dir/a b+c.bin'))).toEqual(body);
    expect(await rawObject(p.bucket, `${store.prefix}dir/a b+c.bin`)).toEqual(body);
    expect((await store.head('dir/a b+c.bin'))?.metadata?.m).toBe('v');
    const listed = [];
    for await (const o of store.list('dir/')) listed.push(o.key);
    expect(listed).toEqual(['dir/a b+c.bin']);
    await store.delete(['dir/a b+c.bin']);
    expect(await store.head('dir/a b+c.bin')).toBeUndefined();
    expect(p.proxy.stats().byOperation).toMatchObject({ 'put-object': 1, 'get-object': 1, 'head-object': 2, list: 1, 'delete-multi': 1 });
  });

  it('re-signs a request exactly as the SDK signed it', async () => {
    const s3 = testS3();
    let captured: { method: string; url: string; headers: Record<string, string> } | undefined;
    const client = new S3Client({
      endpoint: 'http://127.0.0.1:9',
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    });
    client.middlewareStack.add(
      (() => async (args: { request: unknown }) => {
        const r = args.request as { method: string; path: string; query: Record<string, string>; headers: Record<string, string> };
        const query = Object.entries(r.query)
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v ?? '')}`)
          .join('&');
        captured = {
          method: r.method,
          url: query === '' ? r.path : `${r.path}?${query}`,
          headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v])),
        };
        throw new Error('captured');
      }) as never,
      { step: 'finalizeRequest', priority: 'low', name: 'capture' },
    );
    await expect(client.send(new PutObjectCommand({ Bucket: 'b', Key: 'x/y z', Body: 'hi', IfNoneMatch: '*' }))).rejects.toThrow(
      'captured',
    );
    client.destroy();
    expect(resignRequest(captured!.method, captured!.url, captured!.headers, { accessKeyId: 'AKID', secretAccessKey: 'SECRET' })).toBe(
      captured!.headers.authorization,
    );
  });

  it('classifies S3 operations and draws a replayable sequence', () => {
    expect(classifyRequest('PUT', '/b/k?partNumber=1&uploadId=u').operation).toBe('upload-part');
    expect(classifyRequest('POST', '/b?delete').operation).toBe('delete-multi');
    expect(classifyRequest('GET', '/b?list-type=2&prefix=a%2F').operation).toBe('list');
    expect(classifyRequest('POST', '/b/k?uploads').operation).toBe('create-multipart');
    expect(classifyRequest('GET', '/b/a%20b').key).toBe('a b');
    const a = createSeededRandom(7);
    const b = createSeededRandom(7);
    expect(Array.from({ length: 5 }, a)).toEqual(Array.from({ length: 5 }, b));
  });
});
