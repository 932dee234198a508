/**
 * Continuous SQLite replication benchmark: `npx tsx bench/replication.ts [--seconds 30] [--rates 100,1000] [--idle-seconds 20]
 * [--sync-ms 1000] [--litestream <binary>]`. For each rate a python writer commits small transactions
 * for `--seconds`: alone (baseline), with persistd's WalShipper, and with Litestream 0.3.13 when its
 * binary is found (`--litestream`, or `npm install --no-save @flydotio/litestream-linux-x64` in a temp dir
 * named by PERSISTD_LITESTREAM_DIR). Both tools talk to the test RGW through one counting proxy.
 * Prints lag from commit to object present (p50/p99), requests per minute busy and idle, the
 * writer's p50/p99 commit latency, CPU and peak RSS, and a point-in-time restore time.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { parseSegmentKey } from '../src/format/db-wal-keys.js';
import { restorePointInTime } from '../src/sqlite/wal/restore-point-in-time.js';
import { WalShipper } from '../src/sqlite/wal/wal-shipper.js';
import { S3Store } from '../src/store/s3-store.js';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy/fault-proxy.js';
import { startBenchS3, type BenchS3 } from './support/bench-s3.js';
import { findLitestream as findLitestreamBinary, LITESTREAM_MISSING_NOTE } from './support/litestream.js';
import { parseSteadyCommits, STEADY_WRITER_PY } from './support/steady-writer.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    rates: { type: 'string', default: '100,1000' },
    'idle-seconds': { type: 'string', default: '20' },
    'sync-ms': { type: 'string', default: '1000' },
    litestream: { type: 'string' },
  },
});
const seconds = Number(flags.seconds);
const idleSeconds = Number(flags['idle-seconds']);
const syncMs = Number(flags['sync-ms']);
const BUCKET = 'bench';

interface Commit {
  at: number;
  latencyMs: number;
}
interface RunFigures {
  commits: number;
  lagP50: number;
  lagP99: number;
  busyPerMin: number;
  idlePerMin?: number;
  writerP50: number;
  writerP99: number;
  cpuPct: number;
  rssMiB: number;
  restoreMs?: number;
  note?: string;
}

const pct = (values: number[], p: number): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function createDb(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = wal');
  db.exec('CREATE TABLE IF NOT EXISTS w (id INTEGER PRIMARY KEY, v TEXT)');
  db.close();
}

/** Runs the writer at `rate` for `seconds`, returning every commit. */
async function runWriter(path: string, rate: number): Promise<Commit[]> {
  const child = spawn('python3', ['-c', STEADY_WRITER_PY, path, String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  while (!out.startsWith('ready')) await sleep(5);
  await sleep(seconds * 1000);
  child.kill('SIGTERM');
  await exited;
  return parseSteadyCommits(out).map((c) => ({ at: c.endMs, latencyMs: c.latencyMs }));
}

/** Lists `prefix` every 50 ms and records when each key was first seen. */
function startPoller(client: S3Client, prefix: string): { seen: Map<string, number>; stop(): void } {
  const seen = new Map<string, number>();
  let stopped = false;
  void (async () => {
    while (!stopped) {
      let token: string | undefined;
      do {
        const page = await client
          .send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }))
          .catch(() => undefined);
        const now = Date.now();
        for (const o of page?.Contents ?? []) if (o.Key && !seen.has(o.Key)) seen.set(o.Key, now);
        token = page?.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      await sleep(50);
    }
  })();
  return { seen, stop: () => (stopped = true) };
}

/** For each commit, the time until the first object that holds it was seen. */
function lags(commits: Commit[], objects: { readyAt: number; covers: number }[]): number[] {
  const sorted = [...objects].sort((a, b) => a.covers - b.covers);
  const out: number[] = [];
  let i = 0;
  for (const c of commits) {
    while (i < sorted.length && sorted[i]!.covers < c.at) i++;
    const first = sorted.slice(i).reduce((min, o) => Math.min(min, o.readyAt), Infinity);
    if (Number.isFinite(first)) out.push(first - c.at);
  }
  return out;
}

function procStats(pid: number): { cpuMs: number; hwmKiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuMs: ticks * 10, hwmKiB: Number(hwm?.[1] ?? 0) };
}

async function runPersistd(dir: string, rate: number, env: Env, measureIdle: boolean): Promise<RunFigures> {
  const path = join(dir, `persistd-${rate}.db`);
  createDb(path);
  const prefix = `persistd-${rate}/`;
  const store = new S3Store({
    bucket: BUCKET,
    prefix,
    endpoint: env.proxy.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: env.credentials,
  });
  const shipper = new WalShipper({ store, name: 'app', path, stateDir: join(dir, `state-${rate}`), syncIntervalMs: syncMs });
  await shipper.syncOnce();
  shipper.start();
  const poller = startPoller(env.client, prefix);
  const requestsBefore = env.proxy.stats().requests;
  const cpuBefore = process.cpuUsage();
  const started = Date.now();
  const commits = await runWriter(path, rate);
  const busyMs = Date.now() - started;
  const busyRequests = env.proxy.stats().requests - requestsBefore;
  const cpu = process.cpuUsage(cpuBefore);
  const idlePerMin = await idleRequestsPerMinute(env.proxy, measureIdle);
  poller.stop();
  await shipper.stop();
  const segments = [...poller.seen].flatMap(([key, readyAt]) => {
    const parsed = parseSegmentKey(key.slice(prefix.length));
    return parsed ? [{ readyAt, covers: parsed.shippedAt.getTime() }] : [];
  });
  const lag = lags(commits, segments);
  const middle = commits[Math.floor(commits.length / 2)]!;
  const restoreStarted = Date.now();
  await restorePointInTime({ store, name: 'app', path: join(dir, `restored-${rate}.db`), timestamp: new Date(middle.at + syncMs + 200) });
  const restoreMs = Date.now() - restoreStarted;
  store.destroy();
  return {
    commits: commits.length,
    lagP50: pct(lag, 50),
    lagP99: pct(lag, 99),
    busyPerMin: (busyRequests * 60_000) / busyMs,
    idlePerMin,
    writerP50: pct(
      commits.map((c) => c.latencyMs),
      50,
    ),
    writerP99: pct(
      commits.map((c) => c.latencyMs),
      99,
    ),
    cpuPct: ((cpu.user + cpu.system) / 1000 / busyMs) * 100,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    restoreMs,
    note: 'in-process: CPU and RSS include the benchmark itself',
  };
}

async function runLitestream(binary: string, dir: string, rate: number, env: Env, measureIdle: boolean): Promise<RunFigures> {
  const path = join(dir, `litestream-${rate}.db`);
  createDb(path);
  const prefix = `litestream-${rate}`;
  const config = join(dir, `litestream-${rate}.yml`);
  await writeFile(
    config,
    [
      'dbs:',
      `  - path: ${path}`,
      '    replicas:',
      '      - type: s3',
      `        bucket: ${BUCKET}`,
      `        path: ${prefix}`,
      `        endpoint: ${env.proxy.endpoint}`,
      '        region: us-east-1',
      '        force-path-style: true',
      `        access-key-id: ${env.credentials.accessKeyId}`,
      `        secret-access-key: ${env.credentials.secretAccessKey}`,
      `        sync-interval: ${syncMs}ms`,
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['replicate', '-config', config], { stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const poller = startPoller(env.client, `${prefix}/`);
  while (![...poller.seen.keys()].some((k) => k.includes('/wal/'))) await sleep(50);
  const requestsBefore = env.proxy.stats().requests;
  const cpuBefore = procStats(child.pid!).cpuMs;
  const started = Date.now();
  const commits = await runWriter(path, rate);
  const busyMs = Date.now() - started;
  const busyRequests = env.proxy.stats().requests - requestsBefore;
  const after = procStats(child.pid!);
  const idlePerMin = await idleRequestsPerMinute(env.proxy, measureIdle);
  poller.stop();
  child.kill('SIGTERM');
  await exited;
  // Litestream's keys carry no time: an object is taken to hold every commit before it was first seen.
  const objects = [...poller.seen].filter(([k]) => k.includes('/wal/')).map(([, seenAt]) => ({ readyAt: seenAt, covers: seenAt - 1 }));
  const lag = lags(commits, objects);
  return {
    commits: commits.length,
    lagP50: pct(lag, 50),
    lagP99: pct(lag, 99),
    busyPerMin: (busyRequests * 60_000) / busyMs,
    idlePerMin,
    writerP50: pct(
      commits.map((c) => c.latencyMs),
      50,
    ),
    writerP99: pct(
      commits.map((c) => c.latencyMs),
      99,
    ),
    cpuPct: ((after.cpuMs - cpuBefore) / busyMs) * 100,
    rssMiB: after.hwmKiB / 1024,
    note: 'lag from the first listing that shows a new WAL object (50 ms polls; its content is not checked)',
  };
}

interface Env {
  s3: BenchS3;
  proxy: FaultProxy;
  client: S3Client;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

const findLitestream = (): string | undefined => findLitestreamBinary(flags.litestream);

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'persistd-bench-repl-'));
  const s3 = await startBenchS3({ bucket: BUCKET });
  const { client, credentials } = s3;
  const proxy = await startFaultProxy({ target: s3.endpoint });
  const env: Env = { s3, proxy, client, credentials };
  const litestream = findLitestream();
  const rows: [string, number, RunFigures | { writerP50: number; writerP99: number; commits: number }][] = [];
  try {
    for (const [i, rate] of flags.rates!.split(',').map(Number).entries()) {
      const base = await runWriter(join(dir, `base-${rate}.db`), rate);
      rows.push([
        'writer alone',
        rate,
        {
          commits: base.length,
          writerP50: pct(
            base.map((c) => c.latencyMs),
            50,
          ),
          writerP99: pct(
            base.map((c) => c.latencyMs),
            99,
          ),
        },
      ]);
      process.stderr.write(`rate ${rate}: baseline done\n`);
      rows.push(['persistd', rate, await runPersistd(dir, rate, env, i === 0)]);
      process.stderr.write(`rate ${rate}: persistd done\n`);
      if (litestream) {
        rows.push(['litestream 0.3.13', rate, await runLitestream(litestream, dir, rate, env, i === 0)]);
        process.stderr.write(`rate ${rate}: litestream done\n`);
      }
    }
  } finally {
    await proxy.stop();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const f = (n: number | undefined, d = 0): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  console.log(`\nreplication benchmark: ${seconds} s per run, sync interval ${syncMs} ms, test RGW through a counting proxy`);
  console.log(
    'tool               tx/s  commits  lag p50/p99 ms   req/min busy  req/min idle  writer p50/p99 ms  cpu %  rss MiB  PIT restore ms',
  );
  for (const [tool, rate, r] of rows) {
    const x = r as Partial<RunFigures> & { writerP50: number; writerP99: number; commits: number };
    console.log(
      `${tool.padEnd(18)} ${String(rate).padStart(5)}  ${String(x.commits).padStart(7)}  ${`${f(x.lagP50)}/${f(x.lagP99)}`.padStart(13)}  ${f(x.busyPerMin).padStart(12)}  ${f(x.idlePerMin).padStart(12)}  ${`${f(x.writerP50, 2)}/${f(x.writerP99, 2)}`.padStart(17)}  ${f(x.cpuPct, 1).padStart(5)}  ${f(x.rssMiB).padStart(7)}  ${f(x.restoreMs).padStart(14)}`,
    );
  }
  for (const [tool, , r] of rows) if ('note' in r && r.note) console.log(`note (${tool}): ${r.note}`);
  if (!litestream) console.log(LITESTREAM_MISSING_NOTE);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/** After the writer stopped: lets the last sync land, then counts requests per minute while nothing is written (undefined when not measured). */
async function idleRequestsPerMinute(proxy: { stats(): { requests: number } }, measure: boolean): Promise<number | undefined> {
  await sleep(syncMs * 2 + 500);
  if (!measure) return undefined;
  const before = proxy.stats().requests;
  await sleep(idleSeconds * 1000);
  return ((proxy.stats().requests - before) * 60) / idleSeconds;
}
