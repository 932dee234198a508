// The files owner pointer (issue 12, item 2): who may write the live files, on the file:// backend and the
// real S3 server. The deploy-overlap scenario through the CLI is in test/run/overlap-files.test.ts.
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FilesFence } from '../../src/files/files-fence.js';
import { FILES_OWNER_KEY } from '../../src/format/files-owner.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { cliReplicaBackends } from '../support/cli-replicas.js';

const { backends: replicas, release } = cliReplicaBackends('files-fence');
afterAll(release);

const backends = replicas.map(([label, make]): [string, () => Promise<ObjectStore>] => [label, async () => (await make()).store]);

const at = (iso: string): Date => new Date(iso);

// Only Date is faked: the fence trusts its last check for a second (by Date.now()), and the tests move that clock on.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Moves the clock past the second for which a fence trusts its last check of the pointer. */
function outlastTrustedCheck(): void {
  vi.setSystemTime(Date.now() + 1100);
}

describe.each(backends)('FilesFence (%s)', (_label, makeStore) => {
  it('the instance that started later takes the pointer and keeps it; the older one is fenced for good', async () => {
    const store = await makeStore();
    const older = new FilesFence({ store, instance: { id: 'aaaaaaaaaaaaaaaa', startedAt: at('2026-12-05T09:00:00Z') } });
    const newer = new FilesFence({ store, instance: { id: 'bbbbbbbbbbbbbbbb', startedAt: at('2026-12-05T09:05:00Z') } });
    expect(await older.claim()).toBe(true);
    expect(await newer.claim()).toBe(true);
    // The older one learns at its next check: a check is trusted for a second.
    outlastTrustedCheck();
    expect(await older.live()).toBe(false);
    expect(older.fenced?.instance).toBe('bbbbbbbbbbbbbbbb');
    // Fenced for good: even a claim does not take the pointer back.
    expect(await older.claim()).toBe(false);
    expect(await newer.live()).toBe(true);
    // And it recorded who fenced it.
    expect(await store.head('files/.persistd/aside/aaaaaaaaaaaaaaaa/aside.json')).toBeDefined();
  });

  it('an instance never takes the pointer from one that started after it', async () => {
    const store = await makeStore();
    const newer = new FilesFence({ store, instance: { id: 'cccccccccccccccc', startedAt: at('2026-12-05T10:00:00Z') } });
    const late = new FilesFence({ store, instance: { id: 'dddddddddddddddd', startedAt: at('2026-12-05T09:00:00Z') } });
    expect(await newer.claim()).toBe(true);
    expect(await late.claim()).toBe(false);
    expect(late.fenced?.instance).toBe('cccccccccccccccc');
    expect(await newer.live()).toBe(true);
  });

  it('a pointer deleted by hand is taken again by the next check', async () => {
    const store = await makeStore();
    const fence = new FilesFence({ store, instance: { id: 'eeeeeeeeeeeeeeee', startedAt: new Date() } });
    expect(await fence.claim()).toBe(true);
    await store.delete([FILES_OWNER_KEY]);
    outlastTrustedCheck();
    expect(await fence.live()).toBe(true);
    expect(await store.head(FILES_OWNER_KEY)).toBeDefined();
  });
});
