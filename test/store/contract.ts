import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ObjectInfo, ObjectStore } from '../../src/store/object-store.js';
import { NotFoundError, PermanentStoreError, PreconditionFailedError } from '../../src/store/store-errors.js';
import { compareKeys } from '../../src/store/compare-keys.js';

/** Reads a stream to the end into one buffer (test data is small enough). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** A stream of `size` pseudo-random bytes in odd-sized chunks, with no length the store could know in advance, and its SHA-256. */
export function streamOfUnknownLength(size: number, seed: string): { stream: Readable; sha256: string } {
  const block = createHash('sha512').update(seed).digest();
  const chunkSize = 1024 * 1024 + 7;
  const chunkAt = (index: number): Buffer => {
    const chunk = Buffer.alloc(Math.min(chunkSize, size - index * chunkSize));
    for (let offset = 0; offset < chunk.length; offset += block.length) block.copy(chunk, offset);
    if (chunk.length >= 4) chunk.writeUInt32BE(index, 0);
    return chunk;
  };
  const count = Math.ceil(size / chunkSize);
  const whole = createHash('sha256');
  for (let i = 0; i < count; i++) whole.update(chunkAt(i));
  function* chunks(): Generator<Buffer> {
    for (let i = 0; i < count; i++) yield chunkAt(i);
  }
  return { stream: Readable.from(chunks()), sha256: whole.digest('hex') };
}

/** Runs `fn` over `items` with at most `concurrency` at a time; after a failure no new item starts, and all workers finish before it throws. */
export async function forEachConcurrently<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected !== undefined) throw rejected.reason;
}

async function keysOf(iterable: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of iterable) keys.push(info.key);
  return keys;
}

/** Asserts two buffers hold the same bytes (a deep `toEqual` on megabytes takes minutes). */
export function expectSameBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected), 'bytes differ').toBe(true);
}

/**
 * The behaviour every ObjectStore must have, run against each backend. `makeStore` is called before
 * every test and must return an empty store (a fresh directory, or a fresh prefix in a bucket).
 */
export function runStoreContract(name: string, makeStore: () => Promise<ObjectStore>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    it('round-trips empty, small and binary bodies and reports size and ETag', async () => {
      const bodies: Array<[string, Buffer | string | Uint8Array]> = [
        ['empty', Buffer.alloc(0)],
        ['text', 'hello, world\n'],
        ['binary', randomBytes(70_000)],
        ['uint8', new Uint8Array([0, 1, 2, 255])],
      ];
      for (const [key, body] of bodies) {
        const expected = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
        const put = await store.put(key, body);
        expect(put.key).toBe(key);
        expect(put.size).toBe(expected.length);
        expect(put.etag).toMatch(/^[^"]+$/);
        expectSameBytes(await readAll(await store.get(key)), expected);
        const head = await store.head(key);
        expect(head?.size).toBe(expected.length);
        expect(head?.etag).toBe(put.etag);
      }
    });

    it('replaces an object on an unconditional put', async () => {
      const first = await store.put('k', 'one');
      const second = await store.put('k', 'two!');
      expect(second.etag).not.toBe(first.etag);
      expect((await readAll(await store.get('k'))).toString()).toBe('two!');
      expect((await store.head('k'))?.size).toBe(4);
    });

    it('uploads a 20 MiB stream of unknown length and reads it back intact', async () => {
      const size = 20 * 1024 * 1024 + 12_345;
      const { stream, sha256: expected } = streamOfUnknownLength(size, name);
      const put = await store.put('big/stream.bin', stream, { metadata: { kind: 'big' } });
      expect(put.size).toBe(size);
      const head = await store.head('big/stream.bin');
      expect(head?.size).toBe(size);
      expect(head?.etag).toBe(put.etag);
      expect(head?.metadata).toEqual({ kind: 'big' });
      const hash = createHash('sha256');
      for await (const chunk of await store.get('big/stream.bin')) hash.update(chunk as Buffer);
      expect(hash.digest('hex')).toBe(expected);
    }, 60_000);

    it('uploads a stream of known length', async () => {
      const bytes = randomBytes(100_000);
      const put = await store.put('known', Readable.from([bytes.subarray(0, 5000), bytes.subarray(5000)]), { contentLength: bytes.length });
      expect(put.size).toBe(bytes.length);
      expectSameBytes(await readAll(await store.get('known')), bytes);
    });

    it('round-trips metadata through put and head, and list leaves it out', async () => {
      const metadata = { sha256: 'ab'.repeat(32), mtime: '1700000000000', mode: '644' };
      const put = await store.put('meta/one', 'x', { metadata, contentType: 'application/json' });
      expect(put.metadata).toEqual(metadata);
      expect((await store.head('meta/one'))?.metadata).toEqual(metadata);
      expect((await store.head('meta/one'))?.lastModified).toBeInstanceOf(Date);
      await store.put('meta/none', 'y');
      expect((await store.head('meta/none'))?.metadata).toEqual({});
      for await (const info of store.list('meta/')) expect(info.metadata).toBeUndefined();
    });

    it('returns body, size, ETag and metadata from one getWithInfo, also for a range', async () => {
      const bytes = randomBytes(10_000);
      const metadata = { 'persistd-sha256': 'cd'.repeat(32), 'persistd-mode': '640' };
      const put = await store.put('with-info/one', bytes, { metadata });
      const whole = await store.getWithInfo('with-info/one');
      expect(whole.info).toMatchObject({ key: 'with-info/one', size: bytes.length, etag: put.etag, metadata });
      expect(whole.info.lastModified).toBeInstanceOf(Date);
      expectSameBytes(await readAll(whole.body), bytes);
      const part = await store.getWithInfo('with-info/one', { range: { start: 100, end: 199 } });
      expect(part.info).toMatchObject({ size: bytes.length, etag: put.etag, metadata });
      expectSameBytes(await readAll(part.body), bytes.subarray(100, 200));
      await store.put('with-info/plain', '');
      const plain = await store.getWithInfo('with-info/plain');
      expect(plain.info).toMatchObject({ size: 0, metadata: {} });
      expect((await readAll(plain.body)).length).toBe(0);
      const err = await store.getWithInfo('with-info/missing').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as NotFoundError).path).toBe('with-info/missing');
    });

    it('copies an object inside the store, keeping or replacing its metadata', async () => {
      const bytes = randomBytes(70_000);
      const put = await store.put('copy/source file #1', bytes, { metadata: { kept: 'yes' } });
      await store.copy('copy/source file #1', 'copy/kept/ünï ?%+');
      const kept = await store.getWithInfo('copy/kept/ünï ?%+');
      expect(kept.info).toMatchObject({ size: bytes.length, etag: put.etag, metadata: { kept: 'yes' } });
      expectSameBytes(await readAll(kept.body), bytes);
      await store.put('copy/replaced', 'old content');
      await store.copy('copy/source file #1', 'copy/replaced', { metadata: { replaced: 'yes' } });
      const replaced = await store.getWithInfo('copy/replaced');
      expect(replaced.info.metadata).toEqual({ replaced: 'yes' });
      expectSameBytes(await readAll(replaced.body), bytes);
      expect((await store.head('copy/source file #1'))?.metadata).toEqual({ kept: 'yes' });
      await expect(store.copy('copy/missing', 'copy/never')).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.head('copy/never')).toBeUndefined();
      expect(await keysOf(store.list('copy/'))).toEqual(['copy/kept/ünï ?%+', 'copy/replaced', 'copy/source file #1']);
    });

    it('reads byte ranges', async () => {
      const bytes = randomBytes(10_000);
      await store.put('ranged', bytes);
      expectSameBytes(await readAll(await store.get('ranged', { range: { start: 0, end: 0 } })), bytes.subarray(0, 1));
      expectSameBytes(await readAll(await store.get('ranged', { range: { start: 100, end: 199 } })), bytes.subarray(100, 200));
      expectSameBytes(await readAll(await store.get('ranged', { range: { start: 9_000 } })), bytes.subarray(9_000));
      expectSameBytes(await readAll(await store.get('ranged', { range: { start: 9_990, end: 20_000 } })), bytes.subarray(9_990));
      await expect(store.get('ranged', { range: { start: 10_000 } })).rejects.toBeInstanceOf(PermanentStoreError);
    });

    it('answers undefined to head and NotFoundError to get of a missing key', async () => {
      expect(await store.head('missing')).toBeUndefined();
      expect(await store.head('missing/deeper/key')).toBeUndefined();
      const err = await store.get('missing').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as NotFoundError).path).toBe('missing');
      await expect(store.get('no/such/dir/key')).rejects.toBeInstanceOf(NotFoundError);
    });

    it("refuses a second put with ifNoneMatch: '*'", async () => {
      const first = await store.put('once', 'first', { ifNoneMatch: '*' });
      await expect(store.put('once', 'second', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
      expect((await readAll(await store.get('once'))).toString()).toBe('first');
      expect((await store.head('once'))?.etag).toBe(first.etag);
    });

    it('lets exactly one of several racing ifNoneMatch puts win', async () => {
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.put('race', `writer ${i}`, { ifNoneMatch: '*' })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
    });

    it('writes with ifMatch only while the ETag is current', async () => {
      const v1 = await store.put('lineage', 'v1');
      const v2 = await store.put('lineage', 'v2', { ifMatch: v1.etag });
      await expect(store.put('lineage', 'v3', { ifMatch: v1.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
      expect((await readAll(await store.get('lineage'))).toString()).toBe('v2');
      await store.put('lineage', 'v3', { ifMatch: `"${v2.etag}"` });
      expect((await readAll(await store.get('lineage'))).toString()).toBe('v3');
      await expect(store.put('never-written', 'x', { ifMatch: v1.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
    });

    // Keys of a backup mirror a file tree, so no key is ever also the "directory" of another (`a` and `a/b`);
    // a file:// store cannot hold both, and the contract does not ask it to.
    it('lists in byte order, filters by prefix and honours startAfter', async () => {
      const keys = ['a-b', 'a.', 'a/b', 'a/bb/c', 'a/c', 'a0', 'b/x', 'B', 'é', 'z/ü', '\u{1F600}', '\uFFFD'];
      await forEachConcurrently(keys, 8, (key) => store.put(key, key));
      const sorted = [...keys].sort(compareKeys);
      expect(sorted.slice(0, 6)).toEqual(['B', 'a-b', 'a.', 'a/b', 'a/bb/c', 'a/c']);
      expect(await keysOf(store.list(''))).toEqual(sorted);
      expect(await keysOf(store.list('a/'))).toEqual(['a/b', 'a/bb/c', 'a/c']);
      expect(await keysOf(store.list('a'))).toEqual(['a-b', 'a.', 'a/b', 'a/bb/c', 'a/c', 'a0']);
      expect(await keysOf(store.list('a/b'))).toEqual(['a/b', 'a/bb/c']);
      expect(await keysOf(store.list('nothing/'))).toEqual([]);
      expect(await keysOf(store.list('', { startAfter: 'a/b' }))).toEqual(sorted.slice(sorted.indexOf('a/b') + 1));
      expect(await keysOf(store.list('a', { startAfter: 'a-' }))).toEqual(['a-b', 'a.', 'a/b', 'a/bb/c', 'a/c', 'a0']);
      expect(await keysOf(store.list('a', { startAfter: 'a/b' }))).toEqual(['a/bb/c', 'a/c', 'a0']);
      expect(await keysOf(store.list('', { startAfter: 'zz' }))).toEqual(['é', '\uFFFD', '\u{1F600}']);
      for await (const info of store.list('b/')) {
        expect(info).toMatchObject({ key: 'b/x', size: 3 });
        expect(info.etag).toBe((await store.head('b/x'))?.etag);
        expect(info.lastModified).toBeInstanceOf(Date);
      }
    });

    it('lists and deletes more than 1000 keys', async () => {
      const keys = Array.from({ length: 1100 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await forEachConcurrently(keys, 16, (key) => store.put(key, key));
      await store.put('other', 'x');
      expect(await keysOf(store.list('many/'))).toEqual(keys);
      expect(await keysOf(store.list('many/', { startAfter: 'many/01049' }))).toEqual(keys.slice(1050));
      await store.delete([...keys, 'many/not-there']);
      expect(await keysOf(store.list(''))).toEqual(['other']);
    }, 60_000);

    it('deletes a batch that includes missing keys, and deleting again is fine', async () => {
      await store.put('d/1', '1');
      await store.put('d/2', '2');
      await store.put('d/sub/3', '3');
      await store.put('keep', 'k');
      await store.delete(['d/1', 'd/missing', 'd/sub/3', 'nope/nope']);
      expect(await keysOf(store.list(''))).toEqual(['d/2', 'keep']);
      await store.delete(['d/1', 'd/2', 'd/sub/3']);
      await store.delete([]);
      expect(await keysOf(store.list(''))).toEqual(['keep']);
      expect(await store.head('d/2')).toBeUndefined();
    });

    it('handles keys with spaces, unicode, #, ?, %, + and other odd characters', async () => {
      const keys = [
        'with space',
        'ünïcödé/日本語',
        'hash#tag',
        'question?mark',
        'per%cent%20',
        'plus+sign',
        'amp&eq=semi;',
        "tilde~quote's",
        'dir with space/file (1).txt',
      ];
      for (const key of keys) {
        const put = await store.put(key, `body of ${key}`, { metadata: { note: 'odd' } });
        expect((await readAll(await store.get(key))).toString()).toBe(`body of ${key}`);
        expect((await store.head(key))?.etag).toBe(put.etag);
      }
      expect(await keysOf(store.list(''))).toEqual([...keys].sort(compareKeys));
      await store.delete(keys);
      expect(await keysOf(store.list(''))).toEqual([]);
    });

    it('rejects requests whose signal is already aborted', async () => {
      const signal = AbortSignal.abort();
      await expect(store.put('aborted', 'x', { signal })).rejects.toThrow();
      await expect(store.head('aborted', { signal })).rejects.toThrow();
      expect(await store.head('aborted')).toBeUndefined();
    });

    it('has a printable description and declares its conditional-write capability', () => {
      expect(store.description.length).toBeGreaterThan(0);
      expect([true, false, 'unknown']).toContain(store.capabilities.conditionalWrites);
    });
  });
}
