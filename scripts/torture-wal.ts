/**
 * WAL shipper stress: `npx tsx scripts/torture-wal.ts [--seconds 600] [--rounds 1000] [--seed S]
 * [--round-seconds 10] [--cpu-burners 1] [--keep-failures]`. Drives WalShipper (src/sqlite/wal/) as a
 * library against a concurrent writer process with frequent checkpoints (its own and the app's
 * TRUNCATEs), random sync/snapshot/restart timing and busy-looping processes for CPU pressure, and
 * checks that every restore is a consistent prefix holding everything committed before the sync.
 * Exits 1 on a consistency failure and prints the round's seed.
 */
import { parseArgs } from 'node:util';
import { runWalStress } from './torture/wal-stress.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    rounds: { type: 'string', default: '1000000' },
    seed: { type: 'string' },
    'round-seconds': { type: 'string', default: '10' },
    'cpu-burners': { type: 'string', default: '1' },
    'keep-failures': { type: 'boolean', default: false },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const log = (line: string): void => void process.stdout.write(`${line}\n`);
log(`torture-wal: seed ${seed}`);
const summary = await runWalStress({
  seed,
  rounds: Number(values.rounds),
  seconds: Number(values.seconds),
  roundSeconds: Number(values['round-seconds']),
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
if (failures.length > 0) log(`replay: npx tsx scripts/torture-wal.ts --seed ${seed} --keep-failures`);
process.exitCode = failures.length > 0 ? 1 : 0;
