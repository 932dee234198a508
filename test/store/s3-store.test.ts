import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store, type S3StoreOptions } from '../../src/store/s3-store.js';
import {
  NotFoundError,
  PermanentStoreError,
  PreconditionFailedError,
  type StoreError,
  TransientStoreError,
} from '../../src/store/store-errors.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';
import { expectSameBytes, readAll, runStoreContract } from './contract.js';
import { pollUntil } from '../support/poll.js';

let bucket: string;
const stores: S3Store[] = [];
let prefixes = 0;

beforeAll(async () => {
  bucket = await createTestBucket('s3-store');
});
afterAll(() => {
  for (const store of stores) store.destroy();
});

/** A store on the test server; `overrides` replace any option. */
function makeS3Store(overrides: Partial<S3StoreOptions> = {}): S3Store {
  const s3 = testS3();
  const store = new S3Store({
    bucket,
    prefix: `contract-${++prefixes}-${randomBytes(3).toString('hex')}/`,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    ...overrides,
  });
  stores.push(store);
  return store;
}

runStoreContract('S3Store on Ceph RGW', async () => makeS3Store());

describe('S3Store against a real server', () => {
  it('detects conditional writes with a probe and leaves no probe object behind', async () => {
    const store = makeS3Store();
    expect(store.capabilities.conditionalWrites).toBe('unknown');
    expect(await store.probeConditionalWrites()).toBe(true);
    expect(store.capabilities.conditionalWrites).toBe(true);
    const left: string[] = [];
    for await (const info of store.list('')) left.push(info.key);
    expect(left).toEqual([]);
  });

  it("with conditionalWrites 'off' still refuses a second ifNoneMatch put (checked with HEAD)", async () => {
    const store = makeS3Store({ conditionalWrites: 'off' });
    expect(store.capabilities.conditionalWrites).toBe(false);
    const first = await store.put('pointer', 'one', { ifNoneMatch: '*' });
    await expect(store.put('pointer', 'two', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
    await store.put('pointer', 'two', { ifMatch: first.etag });
    await expect(store.put('pointer', 'three', { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
  });

  it('keeps keys under its prefix and lists them relative to it', async () => {
    const store = makeS3Store();
    const sibling = makeS3Store({ prefix: store.prefix.replace(/\/$/, '-sibling/') });
    await store.put('x/y', 'inside');
    await sibling.put('x/y', 'sibling');
    const keys: string[] = [];
    for await (const info of store.list('')) keys.push(info.key);
    expect(keys).toEqual(['x/y']);
    expect((await readAll(await store.get('x/y'))).toString()).toBe('inside');
  });

  it('uploads a stream of unknown length in several parts with small parts and concurrency 2', async () => {
    const store = makeS3Store({ partSize: 5 * 1024 * 1024, multipartConcurrency: 2 });
    const bytes = randomBytes(11 * 1024 * 1024 + 3);
    const put = await store.put('parts', Readable.from([bytes.subarray(0, 3_000_000), bytes.subarray(3_000_000)]));
    expect(put.etag).toMatch(/-3$/); // a multipart ETag names its part count
    expect((await store.head('parts'))?.etag).toBe(put.etag);
    expectSameBytes(await readAll(await store.get('parts')), bytes);
  });

  it('shares a bounded set of part buffers among several large uploads at once, and frees them after', async () => {
    const store = makeS3Store({ partSize: 5 * 1024 * 1024, multipartConcurrency: 2 });
    const limit = store.partBuffers.limit;
    expect(limit).toBe(2);
    const bodies = Array.from({ length: 4 }, (_, i) => randomBytes(16 * 1024 * 1024 + i));
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, store.partBuffers.inUse)), 1);
    try {
      // Four uploads alone would hold 4 × 2 part buffers; with a known length above one part they take the multipart path too.
      const puts = await Promise.all(
        bodies.map((b, i) => store.put(`big-${i}`, Readable.from([b]), i % 2 === 0 ? { contentLength: b.length } : {})),
      );
      for (const put of puts) expect(put.etag).toMatch(/-4$/);
    } finally {
      clearInterval(sampler);
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(limit);
    expect(store.partBuffers.inUse).toBe(0);
    for (let i = 0; i < bodies.length; i++) expectSameBytes(await readAll(await store.get(`big-${i}`)), bodies[i]!);
  });

  it('gives a part buffer back when a stream breaks while its part is being filled', async () => {
    const store = makeS3Store({ partSize: 5 * 1024 * 1024, multipartConcurrency: 2 });
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(6 * 1024 * 1024)); // one whole part, then half of the next
    setTimeout(() => failing.destroy(new Error('source broke')), 50);
    await expect(store.put('broken-parts', failing)).rejects.toThrow('source broke');
    expect(store.partBuffers.inUse).toBe(0);
    expect(await store.head('broken-parts')).toBeUndefined();
  });

  it('fails a put promptly when a stream body of known length breaks midway', async () => {
    const store = makeS3Store();
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(1000));
    setTimeout(() => failing.destroy(new Error('source broke')), 20);
    const started = Date.now();
    await expect(store.put('broken', failing, { contentLength: 5000 })).rejects.toThrow('source broke');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await store.head('broken')).toBeUndefined();
  });

  it('maps a wrong secret to PermanentStoreError without leaking the secret or the access key', async () => {
    const s3 = testS3();
    const secret = `wrong-secret-${randomBytes(12).toString('hex')}`;
    const store = makeS3Store({ credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: secret } });
    const attempts = [() => store.put('k', 'v'), () => store.get('k'), () => drain(store.list('')), () => store.delete(['k'])];
    for (const attempt of attempts) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PermanentStoreError);
      const text = `${(err as StoreError).message} ${(err as StoreError).hint ?? ''} ${JSON.stringify(err)}`;
      expect(text).not.toContain(secret);
      expect(text).not.toContain(s3.accessKeyId);
      expect(text).not.toContain(s3.secretAccessKey);
      expect((err as StoreError).hint).toMatch(/access key|credential/i);
      expect((err as StoreError).cause).toBeUndefined();
    }
  });

  it('maps a missing bucket to PermanentStoreError naming the bucket', async () => {
    const store = makeS3Store({ bucket: `pd-missing-${randomBytes(4).toString('hex')}` });
    for (const attempt of [() => store.put('k', 'v'), () => drain(store.list(''))]) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PermanentStoreError);
      expect((err as StoreError).message).toContain(store.bucket);
      expect((err as StoreError).hint).toContain(store.bucket);
    }
  });

  it('maps an endpoint with nothing listening to TransientStoreError, quickly', async () => {
    const port = await closedPort();
    const store = makeS3Store({ endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: 1_000 });
    const started = Date.now();
    const err = await store.put('k', 'v').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransientStoreError);
    expect((err as StoreError).hint).toContain(`127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('times out against a server that accepts connections but never answers', async () => {
    const silent = await silentServer();
    try {
      const store = makeS3Store({ endpoint: `http://127.0.0.1:${silent.port}`, requestTimeoutMs: 500 });
      const started = Date.now();
      const err = await store.head('k').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TransientStoreError);
      expect((err as StoreError).message).toMatch(/timed out/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });

  it('an abort cancels exactly the requests under that signal, also when requests of one kind share the store', async () => {
    const silent = await silentServer();
    try {
      const store = makeS3Store({ endpoint: `http://127.0.0.1:${silent.port}`, requestTimeoutMs: 60_000 });
      const [a, b] = [new AbortController(), new AbortController()];
      const settled = (p: Promise<unknown>): Promise<unknown> =>
        p.then(
          () => 'resolved',
          (e: unknown) => e,
        );
      const underA = [
        settled(store.head('a1', { signal: a.signal })),
        settled(store.put('a2', 'x', { signal: a.signal })),
        settled(store.get('a3', { signal: a.signal })),
      ];
      const underB = [
        settled(store.head('b1', { signal: b.signal })),
        settled(store.put('b2', 'x', { signal: b.signal })),
        settled(store.get('b3', { signal: b.signal })),
      ];
      let settledUnderB = 0;
      for (const request of underB) void request.finally(() => settledUnderB++);
      await pollUntil('six open connections', () => silent.open() === 6, 10_000);
      const started = Date.now();
      a.abort();
      for (const outcome of await Promise.all(underA)) expect(outcome).toBeInstanceOf(Error);
      // A's rejections are the signal: an abort reaches the requests under its signal from its listeners, at once and
      // together (the sockets stay open at the server either way), so one turn of the event loop later B's would have settled too.
      await new Promise((resolve) => setImmediate(resolve));
      expect(settledUnderB).toBe(0);
      expect(silent.open()).toBe(6);
      b.abort();
      for (const outcome of await Promise.all(underB)) expect(outcome).toBeInstanceOf(Error);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await silent.close();
    }
  });

  it('gives NotFoundError with the relative key for get of a missing key', async () => {
    const store = makeS3Store();
    const err = await store.get('nope/here').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).path).toBe('nope/here');
  });
});

async function drain(iterable: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of iterable) void _;
}

/** A port on 127.0.0.1 that was free a moment ago and has nothing listening now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP server that accepts connections and never says a word; `open()` counts the connections still open. */
async function silentServer(): Promise<{ port: number; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    open: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
