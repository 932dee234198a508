/**
 * Bank torture: `npm run torture:bank -- [--rounds 300] [--seconds 3600] [--round-seconds 6] [--seed S]
 * [--store fs|s3|both] [--cpu-burners 1] [--keep-failures]`. Drives the WAL shipper against an app that
 * keeps an invariant (transfers between accounts with ~10 KB rows, 4/16/64 KiB pages, bursts and calm
 * stretches) with stalls, restarts and compaction snapshots, and checks that every restore (latest and
 * point in time) is exactly a state the app committed (scripts/torture/bank-stress.ts). S3 rounds use
 * PERSISTD_TEST_S3_ENDPOINT (+ keys) or a throwaway Ceph RGW. Exits 1 on a failure, printing the seed.
 */
import { parseArgs } from 'node:util';
import { startBenchS3, type BenchS3 } from '../bench/support/bench-s3.js';
import { runBankStress } from './torture/bank-stress.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3600' },
    rounds: { type: 'string', default: '20' },
    seed: { type: 'string' },
    'round-seconds': { type: 'string', default: '6' },
    store: { type: 'string', default: 'both' },
    'cpu-burners': { type: 'string', default: '1' },
    'keep-failures': { type: 'boolean', default: false },
  },
});
const store = values.store as 'fs' | 's3' | 'both';
if (!['fs', 's3', 'both'].includes(store)) throw new Error('--store: fs, s3 or both');
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const log = (line: string): void => void process.stdout.write(`${line}\n`);
log(`torture-bank: seed ${seed}, store ${store}`);
let s3: BenchS3 | undefined;
if (store !== 'fs') {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  s3 = await startBenchS3({ bucket: `torture-bank-${Date.now().toString(36)}` });
}
try {
  const summary = await runBankStress({
    seed,
    rounds: Number(values.rounds),
    seconds: Number(values.seconds),
    roundSeconds: Number(values['round-seconds']),
    store,
    ...(s3 ? { s3Store: (prefix: string) => s3!.store(prefix) } : {}),
    cpuBurners: Number(values['cpu-burners']),
    keepFailures: values['keep-failures'],
    log,
  });
  const { failures, ...totals } = summary;
  log(`\nsummary: ${JSON.stringify(totals)}`);
  log(`failures: ${failures.length}`);
  for (const f of failures) {
    log(
      `- round ${f.round}, round seed ${f.roundSeed}: ${f.what}: ${f.problems.join('; ')}${values['keep-failures'] ? ` (kept in ${f.dir})` : ''}`,
    );
    for (const action of f.recentActions.slice(-12)) log(`    ${action}`);
  }
  if (failures.length > 0) log(`replay: npm run torture:bank -- --seed ${seed} --store ${store} --keep-failures`);
  process.exitCode = failures.length > 0 ? 1 : 0;
} finally {
  await s3?.stop();
}
