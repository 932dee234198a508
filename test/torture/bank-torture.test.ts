import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runBankStress } from '../../scripts/torture/bank-stress.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { createTestBucket, testS3Store } from '../support/test-s3.js';

// The short form of `npm run torture:bank`: a few rounds of an invariant-keeping app (transfers between
// accounts, large pages, bursts) with stalls and restarts of the shipper; every restore, latest and
// point in time, must be exactly a state the app committed. Fixed seeds; both stores.
describe('bank torture (never a state that did not exist)', () => {
  it('file:// and S3 rounds: every restore is a committed state, the final one the last', async () => {
    const bucket = await createTestBucket('torture-bank');
    const stores: S3Store[] = [];
    const lines: string[] = [];
    try {
      const summary = await runBankStress({
        seed: 4242,
        rounds: 4,
        seconds: 600,
        roundSeconds: 3,
        store: 'both',
        cpuBurners: 0,
        keepFailures: true,
        log: (line) => lines.push(line),
        s3Store: (prefix) => {
          const store = testS3Store(bucket, { prefix: `${prefix}${randomBytes(2).toString('hex')}/` });
          stores.push(store);
          return store;
        },
      });
      expect(summary.failures, lines.join('\n')).toEqual([]);
      expect(summary.rounds).toBe(4);
      expect(summary.roundsByStore).toEqual({ fs: 2, s3: 2 });
      expect(summary.latestChecked).toBeGreaterThanOrEqual(4);
      expect(summary.transactions).toBeGreaterThan(0);
    } finally {
      for (const store of stores) store.destroy();
    }
  }, 240_000);
});
