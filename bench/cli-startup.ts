/**
 * How fast the persistd command answers: median wall time of `persistd version`, `persistd --help` and
 * `persistd restore --help` (built dist/, run with the current Node) next to a bare `node -e 0`, over
 * several runs each. Usage: npm run bench:cli [-- --runs N]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/persistd.js', import.meta.url));
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;

function medianMs(args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited with ${result.status}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const baseline = medianMs(['-e', '0']);
const rows: [string, number][] = [
  ['node -e 0', baseline],
  ['persistd version', medianMs([BIN, 'version'])],
  ['persistd --help', medianMs([BIN, '--help'])],
  ['persistd restore --help', medianMs([BIN, 'restore', '--help'])],
];
console.log(`CLI startup, Node ${process.version}, median of ${runs} runs`);
console.log('| command | median | vs node -e 0 |');
console.log('|---|---|---|');
for (const [label, ms] of rows) console.log(`| ${label} | ${ms.toFixed(0)} ms | ${(ms / baseline).toFixed(2)}x |`);
