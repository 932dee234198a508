import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CountingStore } from '../../src/store/counting-store.js';
import { FsStore } from '../../src/store/fs-store.js';
import { LimitedStore } from '../../src/store/limited-store.js';
import { openStore } from '../../src/store/open-store.js';
import { RetryingStore } from '../../src/store/retrying-store.js';
import { Semaphore } from '../../src/store/semaphore.js';
import { NotFoundError, PermanentStoreError, TransientStoreError } from '../../src/store/store-errors.js';
import { FaultInjectingStore } from './fault-injecting-store.js';
import { forEachConcurrently, readAll } from './contract.js';
import { pollUntil } from '../support/poll.js';

const FAST = { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 4, maxElapsedMs: 10_000 };
const transient = (): Error => new TransientStoreError('injected: connection reset', { op: 'test' });
const permanent = (): Error => new PermanentStoreError('injected: access denied', { op: 'test' });

let root: string;
let fs: FsStore;
let faulty: FaultInjectingStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'persistd-wrappers-'));
  fs = new FsStore(root);
  faulty = new FaultInjectingStore(fs);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function keysOf(iterable: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of iterable) keys.push(info.key);
  return keys;
}

describe('RetryingStore', () => {
  it('retries transient failures of put, get, head and delete until they pass', async () => {
    const retries: string[] = [];
    const store = new RetryingStore(faulty, { policy: FAST, onRetry: (op, _err, attempt) => retries.push(`${op}#${attempt}`) });
    faulty.failNext('put', 2, transient);
    const put = await store.put('k', 'value');
    expect(faulty.calls.put).toBe(3);
    faulty.failNext('head', 1, transient);
    expect((await store.head('k'))?.etag).toBe(put.etag);
    faulty.failNext('get', 3, transient);
    expect((await readAll(await store.get('k'))).toString()).toBe('value');
    faulty.failNext('delete', 1, transient);
    await store.delete(['k']);
    expect(await fs.head('k')).toBeUndefined();
    expect(retries).toEqual(['put#1', 'put#2', 'head#1', 'get#1', 'get#2', 'get#3', 'delete#1']);
  });

  it('retries transient failures of getWithInfo and copy', async () => {
    const store = new RetryingStore(faulty, { policy: FAST });
    await fs.put('src', 'value', { metadata: { m: '1' } });
    faulty.failNext('get', 2, transient);
    const got = await store.getWithInfo('src');
    expect(got.info.metadata).toEqual({ m: '1' });
    expect((await readAll(got.body)).toString()).toBe('value');
    expect(faulty.calls.get).toBe(3);
    faulty.failNext('copy', 2, transient);
    await store.copy('src', 'dst');
    expect(faulty.calls.copy).toBe(3);
    expect((await fs.head('dst'))?.metadata).toEqual({ m: '1' });
    await expect(store.copy('missing', 'dst2')).rejects.toBeInstanceOf(NotFoundError);
    expect(faulty.calls.copy).toBe(4);
  });

  it('gives up at once on a permanent failure, and after maxAttempts on transient ones', async () => {
    const store = new RetryingStore(faulty, { policy: FAST });
    faulty.failNext('put', 5, permanent);
    await expect(store.put('k', 'v')).rejects.toBeInstanceOf(PermanentStoreError);
    expect(faulty.calls.put).toBe(1);
    faulty.failNext('put', 10, transient);
    await expect(store.put('k', 'v')).rejects.toBeInstanceOf(TransientStoreError);
    expect(faulty.calls.put).toBe(1 + FAST.maxAttempts);
    await expect(store.get('missing')).rejects.toBeInstanceOf(NotFoundError);
    expect(faulty.calls.get).toBe(1);
  });

  it('stops within the time budget', async () => {
    const store = new RetryingStore(faulty, {
      policy: { maxAttempts: 100, baseDelayMs: 40, maxDelayMs: 40, maxElapsedMs: 150 },
      random: () => 1,
    });
    faulty.failNext('head', 100, transient);
    const started = Date.now();
    await expect(store.head('k')).rejects.toBeInstanceOf(TransientStoreError);
    expect(faulty.calls.head).toBeLessThanOrEqual(5);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('sends a stream body once, since it cannot be rewound', async () => {
    const store = new RetryingStore(faulty, { policy: FAST });
    faulty.failNext('put', 1, transient);
    await expect(store.put('s', Readable.from([Buffer.from('abc')]))).rejects.toBeInstanceOf(TransientStoreError);
    expect(faulty.calls.put).toBe(1);
  });

  it('resumes a failed listing after the last key it yielded, without duplicates', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `l/${String(i).padStart(2, '0')}`);
    await forEachConcurrently(keys, 8, (key) => fs.put(key, key));
    const store = new RetryingStore(faulty, { policy: FAST });
    faulty.failListAfter = 7;
    faulty.failNext('list', 2, transient);
    expect(await keysOf(store.list('l/'))).toEqual(keys);
    expect(faulty.calls.list).toBe(3);
  });

  it('stops waiting when the signal aborts during a backoff', async () => {
    const store = new RetryingStore(faulty, {
      policy: { ...FAST, baseDelayMs: 60_000, maxDelayMs: 60_000, maxElapsedMs: 600_000 },
      random: () => 1,
    });
    faulty.failNext('head', 10, transient);
    const controller = new AbortController();
    const pending = store.head('k', { signal: controller.signal });
    await pollUntil('faulty.calls.head to reach 1', () => faulty.calls.head >= 1, { timeoutMs: 5_000, intervalMs: 0 });
    controller.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
    expect(faulty.calls.head).toBe(1);
  });
});

describe('CountingStore', () => {
  it('counts requests, errors, bytes and objects by operation', async () => {
    const store = new CountingStore(fs);
    await store.put('a', 'hello');
    await store.put('b', Readable.from([Buffer.from('12345'), Buffer.from('678')]));
    expect((await readAll(await store.get('a'))).toString()).toBe('hello');
    await expect(store.get('missing')).rejects.toBeInstanceOf(NotFoundError);
    await store.head('a');
    expect(await keysOf(store.list(''))).toEqual(['a', 'b']);
    expect((await readAll((await store.getWithInfo('b')).body)).toString()).toBe('12345678');
    await store.copy('b', 'c');
    await store.delete(['a', 'b', 'c']);
    const counts = store.snapshot();
    expect(counts.put).toEqual({ requests: 3, errors: 0, bytes: 13, objects: 0 });
    expect(counts.get).toEqual({ requests: 3, errors: 1, bytes: 13, objects: 0 });
    expect(counts.head).toEqual({ requests: 1, errors: 0, bytes: 0, objects: 0 });
    expect(counts.list).toEqual({ requests: 1, errors: 0, bytes: 0, objects: 2 });
    expect(counts.delete).toEqual({ requests: 1, errors: 0, bytes: 0, objects: 3 });
    counts.put.requests = 99;
    expect(store.snapshot().put.requests).toBe(3);
  });
});

describe('LimitedStore', () => {
  it('lets at most N requests reach the inner store at once', async () => {
    const store = new LimitedStore(faulty, 3);
    faulty.closeGate();
    const puts = Array.from({ length: 10 }, (_, i) => store.put(`k${i}`, `v${i}`));
    await pollUntil('faulty.inFlight to reach 3', () => faulty.inFlight >= 3, { timeoutMs: 5_000, intervalMs: 0 });
    // Give queued calls every chance to overtake the limit before checking.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(faulty.inFlight).toBe(3);
    expect(store.inFlight).toBe(3);
    faulty.open();
    await Promise.all(puts);
    expect(faulty.maxInFlight).toBe(3);
    expect(faulty.calls.put).toBe(10);
    expect(await keysOf(store.list(''))).toHaveLength(10);
  });

  it('counts getWithInfo and copy against the same limit', async () => {
    const store = new LimitedStore(faulty, 2);
    await fs.put('src', 'v');
    faulty.closeGate();
    const calls = [store.getWithInfo('src'), store.copy('src', 'c1'), store.getWithInfo('src'), store.copy('src', 'c2')];
    await pollUntil('faulty.inFlight to reach 2', () => faulty.inFlight >= 2, { timeoutMs: 5_000, intervalMs: 0 });
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(faulty.inFlight).toBe(2);
    faulty.open();
    const done = await Promise.all(calls);
    for (const got of [done[0], done[2]] as { body: Readable }[]) expect((await readAll(got.body)).toString()).toBe('v');
    expect(faulty.maxInFlight).toBe(2);
  });
});

describe('Semaphore', () => {
  it('serves waiters in order and drops a waiter whose signal aborts', async () => {
    const semaphore = new Semaphore(1);
    const order: string[] = [];
    const release = await semaphore.acquire();
    const controller = new AbortController();
    const first = semaphore.run(async () => order.push('first'));
    const aborted = semaphore.acquire(controller.signal);
    const second = semaphore.run(async () => order.push('second'));
    expect(semaphore.waiting).toBe(3);
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    release();
    release(); // a second call must not free a second slot
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    expect(semaphore.inUse).toBe(0);
  });
});

describe('openStore', () => {
  it('opens a file store wrapped with retries, a limit and counting', async () => {
    const opened = openStore({ kind: 'fs', root }, { concurrency: 2 });
    expect(opened.backend).toBeInstanceOf(FsStore);
    expect(opened.store.description).toBe(`file://${root}`);
    await opened.store.put('x', 'y');
    expect(await opened.store.head('x')).toMatchObject({ key: 'x', size: 1 });
    expect(opened.counting.snapshot().put.requests).toBe(1);
    expect(await opened.backend.probeConditionalWrites()).toBe(true);
    opened.close();
  });
});
