/**
 * Crash torture: `npm run torture -- [--rounds 20] [--seed S] [--store fs|s3] [--keep-failures]
 * [--max-loss-ms N] [--snapshot-interval 1s] [--sync-interval 1s] [--age]`. Each round runs the built CLI
 * (`npm run build` first) as `persistd run` around a writer app, SIGKILLs the app, persistd or both
 * at a random moment (sometimes during the restore, sometimes right after a snapshot starts), loses
 * the container and checks the restore (scripts/torture/torture-round.ts). `--max-loss-ms` bounds the
 * loss of every kill of persistd, from the app's first commit on (default: the sync interval + 2 s; 0: reported only).
 * `--store s3` uses the server named by PERSISTD_TEST_S3_* or starts the test RGW. `--age` encrypts the
 * replicas with age (a new identity per lineage). Exits 1 when a round failed.
 */
import { parseArgs } from 'node:util';
import { startBenchS3, type BenchS3 } from '../bench/support/bench-s3.js';
import { defaultMaxLossMs, formatSummary, runTorture } from './torture/torture-runner.js';
import type { TortureStore } from './torture/torture-sandbox.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    seed: { type: 'string' },
    store: { type: 'string', default: 'fs' },
    'keep-failures': { type: 'boolean', default: false },
    'max-loss-ms': { type: 'string' },
    'snapshot-interval': { type: 'string', default: '1s' },
    'sync-interval': { type: 'string', default: '1s' },
    age: { type: 'boolean', default: false },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (values.store !== 'fs' && values.store !== 's3') throw new Error(`--store must be fs or s3, not ${values.store}`);
const maxLossMs = values['max-loss-ms'] !== undefined ? Number(values['max-loss-ms']) : defaultMaxLossMs(values['sync-interval']);
if (!Number.isInteger(maxLossMs) || maxLossMs < 0)
  throw new Error(`--max-loss-ms must be a whole number of ms (0: off), not ${values['max-loss-ms']}`);

let s3: BenchS3 | undefined;
let store: TortureStore = { kind: 'fs' };
if (values.store === 's3') {
  s3 = await startBenchS3({ bucket: `torture-${Date.now().toString(36)}` });
  store = { kind: 's3', endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, ...s3.credentials };
}
try {
  console.log(
    `torture: seed ${seed}, ${values.rounds} rounds on ${values.store}${values.age ? ' (age-encrypted)' : ''}, snapshot interval ${values['snapshot-interval']}, sync interval ${values['sync-interval']}, loss bound ${maxLossMs === 0 ? 'off (reported only)' : `${maxLossMs} ms from the app's first commit`}`,
  );
  const summary = await runTorture({
    rounds: Number(values.rounds),
    seed,
    store,
    keepFailures: values['keep-failures'],
    maxLossMs,
    snapshotInterval: values['snapshot-interval'],
    syncInterval: values['sync-interval'],
    age: values.age,
  });
  const replay = `npm run torture -- --seed ${seed} --store ${values.store} --max-loss-ms ${maxLossMs}${values.age ? ' --age' : ''}`;
  console.log(['', ...formatSummary(summary, replay)].join('\n'));
  process.exitCode = summary.failures.length > 0 ? 1 : 0;
} finally {
  await s3?.stop();
}
