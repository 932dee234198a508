/**
 * How fast the persistd command answers: median wall time of `persistd version`, `persistd --help` and
 * `persistd restore --help` (built dist/, run with the current Node) next to a bare `node -e 0`, and how
 * soon `persistd run` sends its first request to an S3 endpoint (a local HTTP server that answers 503 and
 * records when the request arrived; the run is killed then), over several runs each.
 * Usage: npm run bench:cli [-- --runs N] [--bin path/to/bin/persistd.js (another build, to compare)]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function argValue(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : undefined;
}

const BIN = path.resolve(argValue('--bin') ?? fileURLToPath(new URL('../bin/persistd.js', import.meta.url)));
const runs = Number(argValue('--runs') ?? 15);

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function medianMs(args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited with ${result.status}`);
  }
  return median(times);
}

/** CPU time (user + system) a running process has used so far, from /proc (Linux; 10 ms ticks). */
function cpuMsOf(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime and stime, fields 14 and 15 of stat
}

/**
 * Milliseconds from spawning `persistd run` (S3 replica, one database) to its first request reaching the
 * endpoint, and the CPU time persistd had used by then (less sensitive to a loaded machine).
 */
async function firstRequestMs(): Promise<{ wall: number; cpu: number }> {
  let arrived: (() => void) | undefined;
  let cpuAtArrival = 0;
  let child: ReturnType<typeof spawn> | undefined;
  const server = createServer((_request, response) => {
    if (arrived) cpuAtArrival = cpuMsOf(child?.pid);
    arrived?.();
    arrived = undefined;
    response.statusCode = 503;
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const times: number[] = [];
  const cpuTimes: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const dir = mkdtempSync(path.join(tmpdir(), 'persistd-bench-cli-'));
      const first = new Promise<void>((resolve) => (arrived = resolve));
      const started = process.hrtime.bigint();
      child = spawn(process.execPath, [BIN, 'run', '--to', 's3://bench/app', '--db', path.join(dir, 'app.db'), '--', 'node', '-e', '0'], {
        env: {
          ...process.env,
          PERSISTD_S3_ENDPOINT: `http://127.0.0.1:${port}`,
          AWS_ACCESS_KEY_ID: 'AKIABENCHEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'bench-secret-key-example',
          AWS_REGION: 'us-east-1',
          PERSISTD_STATE_DIR: path.join(dir, 'state'),
        },
        stdio: 'ignore',
      });
      const running = child;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      await Promise.race([
        first,
        exited.then(() => Promise.reject(new Error(`persistd run exited (${running.exitCode}) before its first request`))),
      ]);
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      cpuTimes.push(cpuAtArrival);
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    server.close();
  }
  return { wall: median(times), cpu: median(cpuTimes) };
}

const baseline = medianMs(['-e', '0']);
const rows: [string, number][] = [
  ['node -e 0', baseline],
  ['persistd version', medianMs([BIN, 'version'])],
  ['persistd --help', medianMs([BIN, '--help'])],
  ['persistd restore --help', medianMs([BIN, 'restore', '--help'])],
];
const firstRequest = await firstRequestMs();
rows.push(['persistd run: first request to S3', firstRequest.wall]);
console.log(`CLI startup, Node ${process.version}, ${BIN}, median of ${runs} runs`);
console.log('| command | median | vs node -e 0 |');
console.log('|---|---|---|');
for (const [label, ms] of rows) console.log(`| ${label} | ${ms.toFixed(0)} ms | ${(ms / baseline).toFixed(2)}x |`);
console.log(`persistd run had used ${firstRequest.cpu.toFixed(0)} ms of CPU (median) when its first request arrived`);
