import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PermanentStoreError, TransientStoreError, type StoreError } from '../../src/store/store-errors.js';
import { testS3 } from '../support/test-s3.js';
import { pollUntil } from '../support/poll.js';
import { caught, digest, proxiedBucket, readAll, type ProxiedBucket } from './fault-fixtures.js';

let p: ProxiedBucket;
beforeAll(async () => {
  p = await proxiedBucket('auth-outage');
});
afterAll(async () => p?.close());
beforeEach(() => p.proxy.setRules([]));

/** Everything of an error a user or a log could see. */
function visibleText(err: Error): string {
  const own = JSON.stringify(Object.fromEntries(Object.entries(err)));
  let causes = '';
  for (let c: unknown = err.cause; c instanceof Error; c = c.cause) causes += `${c.message} ${c.stack ?? ''}`;
  return `${String(err)} ${err.stack ?? ''} ${(err as StoreError).hint ?? ''} ${own} ${causes}`;
}

describe('403 for a while (expired or revoked credentials)', () => {
  for (const code of ['ExpiredToken', 'AccessDenied']) {
    it(`${code}: a permanent error at once, naming credentials, without the secret; works again afterwards`, async () => {
      const { store } = p.open();
      await store.put('k', 'before');
      p.proxy.setRules([{ fault: { kind: 'error', status: 403, code, message: 'The provided token has expired.' }, activeForMs: 600 }]);
      const before = p.proxy.stats().requests;
      for (const call of [
        () => store.get('k'),
        () => store.put('k', 'during'),
        () => store.delete(['k']),
        async () => {
          for await (const _ of store.list('')) void _;
        },
      ]) {
        const err = await caught(call);
        expect(err).toBeInstanceOf(PermanentStoreError);
        expect(err.message).toMatch(/access denied/);
        expect(err.message).toContain(code);
        expect((err as StoreError).hint).toMatch(/access key id and secret/);
        const text = visibleText(err);
        expect(text).not.toContain(testS3().secretAccessKey);
        expect(text).not.toMatch(/Signature=|AWS4-HMAC/);
      }
      expect(p.proxy.stats().requests - before).toBe(4); // not retried
      await pollUntil(
        'credentials accepted again',
        async () =>
          await store.head('k').then(
            () => true,
            () => false,
          ),
        3_000,
      );
      expect((await readAll(await store.get('k'))).toString()).toBe('before');
    });
  }
});

describe('the server down (connection refused)', () => {
  it('for 2 s: retries carry put, get, list and delete through', async () => {
    const { store } = p.open({}, { retry: { maxAttempts: 60, baseDelayMs: 100, maxDelayMs: 300, maxElapsedMs: 8_000 } });
    const body = randomBytes(10_000);
    await store.put('seed', body);
    await p.proxy.takeDown(2_000);
    const started = Date.now();
    const [put, got, listed] = await Promise.all([
      store.put('during', body),
      store.get('seed').then(readAll),
      (async () => {
        const keys: string[] = [];
        for await (const o of store.list('')) keys.push(o.key);
        return keys;
      })(),
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_800);
    expect(put.size).toBe(body.length);
    expect(digest(got)).toBe(digest(body));
    expect(listed).toContain('seed');
    await p.proxy.takeDown(1_000);
    await store.delete(['seed', 'during']);
    expect(await store.head('during')).toBeUndefined();
  });

  it('when the retry budget is shorter than the outage: a transient error that says the endpoint refuses connections', async () => {
    const { store } = p.open({}, { retry: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 100, maxElapsedMs: 500 } });
    await store.put('x', 'y');
    p.proxy.setRules([{ fault: { kind: 'down', ms: 1_500 }, operations: ['get-object'], limit: 1 }]);
    const started = Date.now();
    const err = await caught(() => store.get('x'));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(err).toBeInstanceOf(TransientStoreError);
    expect(err.message).toMatch(/ECONNREFUSED|ECONNRESET/);
    expect((err as StoreError).hint).toContain(p.proxy.endpoint);
    await pollUntil(
      'server back',
      async () =>
        await store.head('x').then(
          () => true,
          () => false,
        ),
      5_000,
    );
  });
});
