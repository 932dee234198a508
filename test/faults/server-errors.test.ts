import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureReplicaMarker, readReplicaMarker } from '../../src/format/replica-marker.js';
import { PreconditionFailedError } from '../../src/store/store-errors.js';
import { INTERNAL_ERROR, serverErrors } from '../support/fault-proxy/fault-rules.js';
import { caught, digest, FAST_RETRY, inPool, proxiedBucket, rawObject, readAll, type ProxiedBucket } from './fault-fixtures.js';

let p: ProxiedBucket;
beforeAll(async () => {
  p = await proxiedBucket('server-errors');
});
afterAll(async () => p?.close());
beforeEach(() => p.proxy.setRules([]));

describe('S3Store with its retry wrapper under 500/503 answers', () => {
  it('put, get, list and delete all succeed under 20% 500/503 and the bytes are identical', async () => {
    const { store, backend } = p.open({}, { retry: FAST_RETRY });
    const objects = Array.from({ length: 40 }, (_, i) => ({ key: `k/${String(i).padStart(3, '0')}`, body: randomBytes(500 + i * 97) }));
    p.proxy.setRules(serverErrors(0.2));

    await inPool(objects, 8, ({ key, body }) => store.put(key, body, { metadata: { n: String(body.length) } }));
    await inPool(objects, 8, async ({ key, body }) => expect(digest(await readAll(await store.get(key)))).toBe(digest(body)));
    await inPool(objects, 8, async ({ key, body }) => expect((await store.head(key))?.metadata?.n).toBe(String(body.length)));
    const listed: string[] = [];
    for (let round = 0; round < 5; round++) {
      listed.length = 0;
      for await (const o of store.list('k/')) listed.push(o.key);
      expect(listed).toEqual(objects.map((o) => o.key));
    }
    for (const { key, body } of objects.slice(0, 5)) expect(digest(await rawObject(p.bucket, backend.prefix + key))).toBe(digest(body));
    await store.delete(objects.slice(0, 20).map((o) => o.key));
    await inPool(objects.slice(20), 4, ({ key }) => store.delete([key]));
    p.proxy.setRules([]);
    const left: string[] = [];
    for await (const o of store.list('')) left.push(o.key);
    expect(left).toEqual([]);

    const injected = p.proxy.stats().injected;
    expect(injected['error 500 InternalError']).toBeGreaterThan(5);
    expect(injected['error 503 SlowDown']).toBeGreaterThan(5);
  });

  it('a lost answer (the server did the write, the client saw 500) is retried without harm', async () => {
    const { store, backend } = p.open({}, { retry: FAST_RETRY });
    p.proxy.setRules([{ fault: { ...INTERNAL_ERROR, afterForward: true }, operations: ['put-object', 'delete-multi'], share: 0.5 }]);
    const bodies = Array.from({ length: 10 }, () => randomBytes(2000));
    await inPool(bodies, 4, (body, i) => store.put(`lost/${i}`, body));
    p.proxy.setRules([]);
    for (const [i, body] of bodies.entries()) expect(digest(await rawObject(p.bucket, `${backend.prefix}lost/${i}`))).toBe(digest(body));
    p.proxy.setRules([{ fault: { ...INTERNAL_ERROR, afterForward: true }, operations: ['delete-multi'], limit: 1 }]);
    await store.delete(bodies.map((_, i) => `lost/${i}`));
    expect(await store.head('lost/0')).toBeUndefined();
  });

  it('a conditional create whose answer is lost comes back as "precondition failed" on the retry', async () => {
    // Inherent to S3: the retry finds the object its own first attempt wrote. Callers that create with
    // If-None-Match must read back and recognise their own write; ensureReplicaMarker does.
    const { store } = p.open({}, { retry: FAST_RETRY });
    p.proxy.setRules([{ fault: { ...INTERNAL_ERROR, afterForward: true }, operations: ['put-object'], limit: 1 }]);
    expect(await caught(() => store.put('lock', 'mine', { ifNoneMatch: '*' }))).toBeInstanceOf(PreconditionFailedError);
    expect((await readAll(await store.get('lock'))).toString()).toBe('mine');

    p.proxy.setRules([{ fault: { ...INTERNAL_ERROR, afterForward: true }, operations: ['put-object'], limit: 1 }]);
    const marker = await ensureReplicaMarker(store);
    expect(await readReplicaMarker(store)).toEqual(marker);
    expect(p.proxy.stats().injected['error 500 InternalError after forward']).toBeGreaterThanOrEqual(2);
  });

  it('a multipart upload whose parts fail 20% of the time completes, byte-identical', async () => {
    const { store, backend } = p.open({}, { retry: FAST_RETRY });
    const body = randomBytes(17 * 1024 * 1024); // 3 parts of 8 MiB
    p.proxy.setRules([
      ...serverErrors(0.15, { operations: ['upload-part'] }),
      { fault: { kind: 'reset', when: 'before-response' }, operations: ['upload-part'], share: 0.05 },
    ]);
    await store.put('mp', Readable.from([body.subarray(0, 9 << 20), body.subarray(9 << 20)]));
    p.proxy.setRules([]);
    expect(digest(await rawObject(p.bucket, `${backend.prefix}mp`))).toBe(digest(body));
    expect(p.proxy.stats().byOperation['upload-part']).toBeGreaterThanOrEqual(3);
  });
});
