import { describe, expect, it } from 'vitest';
import { defaultMaxLossMs, runTorture, type TortureSummary } from '../../scripts/torture/torture-runner.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';

// The short form of `npm run torture` (scripts/torture.ts): a few SIGKILL rounds of the built CLI
// with fixed seeds, with the default loss bound from the app's first commit on.
// A failure keeps its directory (journals, logs, replica) and names it.
async function torture(options: Parameters<typeof runTorture>[0]): Promise<{ summary: TortureSummary; output: string }> {
  const lines: string[] = [];
  const summary = await runTorture({ ...options, log: (line) => lines.push(line) });
  return { summary, output: lines.join('\n') };
}

/** Every kill of persistd was placed before or after its launch's first snapshot, and the bound was on. */
function expectLossReported(summary: TortureSummary, output: string): void {
  expect(summary.maxLossMs).toBe(defaultMaxLossMs('1s'));
  expect(Object.values(summary.loss.lossMs).flat().length, output).toBe(summary.rounds - summary.kills.app);
  expect(summary.loss.windows.length, output).toBe(summary.rounds);
}

describe('crash torture', () => {
  it('restores a consistent prefix and closed files after SIGKILLs of the app, persistd or both (file replica)', async () => {
    const { summary, output } = await torture({ rounds: 3, seed: 15, store: { kind: 'fs' }, keepFailures: true });
    expect(summary.failures, output).toEqual([]);
    expect(summary.rounds).toBe(3);
    expect(summary.transactions, output).toBeGreaterThan(0);
    expectLossReported(summary, output);
  }, 150_000);

  it('does the same with the replica encrypted with age (file replica)', async () => {
    const { summary, output } = await torture({ rounds: 2, seed: 17, store: { kind: 'fs' }, keepFailures: true, age: true });
    expect(summary.failures, output).toEqual([]);
    expect(summary.rounds).toBe(2);
    expect(summary.transactions, output).toBeGreaterThan(0);
    expectLossReported(summary, output);
  }, 150_000);

  it('does the same against the S3 server', async () => {
    const s3 = testS3();
    const bucket = await createTestBucket('torture');
    const { summary, output } = await torture({ rounds: 2, seed: 16, store: { kind: 's3', ...s3, bucket }, keepFailures: true });
    expect(summary.failures, output).toEqual([]);
    expect(summary.rounds).toBe(2);
    expect(summary.transactions, output).toBeGreaterThan(0);
    expectLossReported(summary, output);
  }, 150_000);
});
