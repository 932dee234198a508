/**
 * Benchmark of directory sync (issue 4): `npm run bench:files -- [--small] [--files N --size BYTES] [--large-files N --large-size MiB]
 * [--only persistd|persistd-age|rclone|aws ...] [--no-ceiling] [--latency-samples N]`.
 * Starts a throwaway Ceph RGW (or uses PERSISTD_TEST_S3_ENDPOINT + keys), writes one tree (default 100,000 ×
 * 2 KiB plus 3 × 96 MiB; `--small`: 5,000 × 8 KiB, no large files) and measures on it, in one run:
 * - the server's raw PUT and GET ceiling for the small files (same concurrency, SDK in this process);
 * - persistd as a user runs it, each step a fresh process (`persistd backup`, again with nothing changed,
 *   `persistd restore` into an empty folder), with wall time and peak RSS (`/usr/bin/time`);
 * - the same three steps with the replica encrypted with age (`persistd-age`), with `rclone sync` and
 *   `aws s3 sync` (Debian's), same concurrency, same tree;
 * - change → object latency of a watching TreeSync (in this process).
 * Needs `npm run build` first (it runs bin/persistd.js).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { generateIdentity } from '../src/crypto/age-keys.js';
import { TaskPool } from '../src/files/task-pool.js';
import { TreeSync } from '../src/files/tree-sync.js';
import type { ObjectStore } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { createRawS3Client } from '../test/support/s3-server/raw-s3-client.js';
import { startRgw, type RunningRgw } from '../test/support/s3-server/rgw.js';
import type { TestS3Config } from '../test/support/test-s3.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const small = args.includes('--small');
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const FILES = arg('--files', small ? 5_000 : 100_000);
const SIZE = arg('--size', small ? 8192 : 2048);
const LARGE_FILES = arg('--large-files', small ? 0 : 3);
const LARGE_BYTES = arg('--large-size', 96) * 1024 * 1024;
const CONCURRENCY = arg('--concurrency', 16);
const LATENCY_SAMPLES = arg('--latency-samples', 50);
/** `--only persistd` (repeatable) measures just those tools, e.g. while iterating on one; default: all four. */
const ONLY = args.flatMap((a, i) => (a === '--only' && args[i + 1] !== undefined ? [args[i + 1]!] : []));
const runs = (tool: string): boolean => ONLY.length === 0 || ONLY.includes(tool);
const CEILING = !args.includes('--no-ceiling');
const PERSISTD_BIN = fileURLToPath(new URL('../bin/persistd.js', import.meta.url));
const TOTAL_BYTES = FILES * SIZE + LARGE_FILES * LARGE_BYTES;

const rows: [string, string, string, string][] = [];
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const say = (tool: string, step: string, time: string, rss: string): void => {
  rows.push([tool, step, time, rss]);
  process.stderr.write(`${tool.padEnd(10)} ${step.padEnd(34)} ${time.padEnd(26)} ${rss}\n`);
};

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, performance.now() - t];
}

async function makeTree(root: string): Promise<void> {
  const pool = new TaskPool(32);
  for (let i = 0; i < FILES; i++) {
    const dir = join(root, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) await mkdir(dir, { recursive: true });
    await pool.add(() => writeFile(join(dir, `file-${i}.bin`), randomBytes(SIZE)));
  }
  await pool.drain();
  await mkdir(join(root, 'media'), { recursive: true });
  for (let i = 0; i < LARGE_FILES; i++) {
    const out = createWriteStream(join(root, 'media', `video-${i}.bin`));
    for (let written = 0; written < LARGE_BYTES; written += 1 << 20)
      if (!out.write(randomBytes(1 << 20))) await new Promise<void>((r) => out.once('drain', () => r()));
    await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
  }
}

async function ceilings(store: ObjectStore): Promise<void> {
  const body = randomBytes(SIZE);
  const pool = new TaskPool(CONCURRENCY);
  const [, putMs] = await timed(async () => {
    for (let i = 0; i < FILES; i++) await pool.add(() => store.put(`raw/${i}`, body).then(() => undefined));
    await pool.drain();
  });
  say('raw SDK', `PUT ${FILES} × ${SIZE} B`, `${secs(putMs)} (${Math.round((FILES * 1000) / putMs)}/s)`, '');
  const [, getMs] = await timed(async () => {
    for (let i = 0; i < FILES; i++)
      await pool.add(async () => {
        for await (const _ of await store.get(`raw/${i}`)) void _;
      });
    await pool.drain();
  });
  say('raw SDK', `GET ${FILES} × ${SIZE} B`, `${secs(getMs)} (${Math.round((FILES * 1000) / getMs)}/s)`, '');
  for (let i = 0; i < FILES; i += 1000) await store.delete(Array.from({ length: Math.min(1000, FILES - i) }, (_, k) => `raw/${i + k}`));
}

/** Runs a command under /usr/bin/time and reports its wall time and peak RSS; never throws. */
async function step(tool: string, label: string, cmd: string, argv: string[], env: NodeJS.ProcessEnv, work: string): Promise<void> {
  const rssFile = join(work, 'rss.txt');
  try {
    const [, ms] = await timed(() => run('/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...argv], { env, maxBuffer: 256 << 20 }));
    const kib = Number((await readFile(rssFile, 'utf8')).trim().split('\n').at(-1));
    say(tool, label, `${secs(ms)} (${Math.round((FILES * 1000) / ms)} files/s)`, `${(kib / 1024).toFixed(0)} MiB`);
  } catch (err) {
    say(
      tool,
      label,
      `failed: ${((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').slice(-2).join(' ')}`,
      '',
    );
  }
}

async function tools(s3: TestS3Config, bucket: string, root: string, work: string): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_DEFAULT_REGION: s3.region,
    AWS_REGION: s3.region,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph',
    RCLONE_CONFIG_BENCH_ENDPOINT: s3.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: s3.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: s3.secretAccessKey,
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_BENCH_REGION: s3.region,
    PERSISTD_LOG_LEVEL: 'warn',
  };
  delete env.AWS_CA_BUNDLE;
  const persistd = (stateDir: string, dir: string, prefix = 'persistd'): string[] => [
    PERSISTD_BIN,
    '--to',
    `s3://${bucket}/${prefix}`,
    '--endpoint',
    s3.endpoint,
    '--region',
    s3.region,
    '--dir',
    `tree=${dir}`,
    '--state-dir',
    stateDir,
    '--concurrency',
    String(CONCURRENCY),
  ];
  const withCommand = (command: string, rest: string[]): string[] => [rest[0]!, command, ...rest.slice(1)];
  if (runs('persistd')) {
    await step(
      'persistd',
      'first upload (backup)',
      process.execPath,
      withCommand('backup', persistd(join(work, 'state'), root)),
      env,
      work,
    );
    await step(
      'persistd',
      'nothing changed (backup again)',
      process.execPath,
      withCommand('backup', persistd(join(work, 'state'), root)),
      env,
      work,
    );
    await step(
      'persistd',
      'restore to an empty dir',
      process.execPath,
      withCommand('restore', persistd(join(work, 'state-r'), join(work, 'persistd-restore'))),
      env,
      work,
    );
  }
  if (runs('persistd-age')) {
    const key = generateIdentity();
    const aged = { ...env, PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: key.secret };
    await step(
      'persistd-age',
      'first upload (backup)',
      process.execPath,
      withCommand('backup', persistd(join(work, 'state-age'), root, 'persistd-age')),
      aged,
      work,
    );
    await step(
      'persistd-age',
      'nothing changed (backup again)',
      process.execPath,
      withCommand('backup', persistd(join(work, 'state-age'), root, 'persistd-age')),
      aged,
      work,
    );
    await step(
      'persistd-age',
      'restore to an empty dir',
      process.execPath,
      withCommand('restore', persistd(join(work, 'state-age-r'), join(work, 'persistd-age-restore'), 'persistd-age')),
      aged,
      work,
    );
  }
  if (runs('rclone')) {
    const rc = ['--transfers', String(CONCURRENCY), '--checkers', String(CONCURRENCY * 2)];
    await step('rclone', 'first upload (sync)', 'rclone', ['sync', root, `bench:${bucket}/rclone`, ...rc], env, work);
    await step(
      'rclone',
      'nothing changed (--fast-list)',
      'rclone',
      ['sync', root, `bench:${bucket}/rclone`, '--fast-list', ...rc],
      env,
      work,
    );
    await step(
      'rclone',
      'restore to an empty dir',
      'rclone',
      ['sync', `bench:${bucket}/rclone`, join(work, 'rclone-restore'), '--fast-list', ...rc],
      env,
      work,
    );
  }
  if (runs('aws')) {
    const aws = ['--endpoint-url', s3.endpoint, '--only-show-errors'];
    await step('aws', 'first upload (s3 sync)', '/usr/bin/aws', ['s3', 'sync', root, `s3://${bucket}/aws`, ...aws], env, work);
    await step('aws', 'nothing changed', '/usr/bin/aws', ['s3', 'sync', root, `s3://${bucket}/aws`, ...aws], env, work);
    await step(
      'aws',
      'restore to an empty dir',
      '/usr/bin/aws',
      ['s3', 'sync', `s3://${bucket}/aws`, join(work, 'aws-restore'), ...aws],
      env,
      work,
    );
  }
}

async function latency(store: ObjectStore, root: string, state: string): Promise<void> {
  const putDone = new Map<string, number>();
  const watched: ObjectStore = Object.create(store) as ObjectStore;
  watched.put = async (key, b, o) => {
    const info = await store.put(key, b, o);
    putDone.set(key, performance.now());
    return info;
  };
  const sync = new TreeSync({ store: watched, name: 'tree', root, stateDir: state, concurrency: CONCURRENCY, rescanIntervalMs: 0 });
  const [, startMs] = await timed(() => sync.start());
  say('persistd', 'watch start (index kept)', secs(startMs), '');
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const rel = `d${i % Math.ceil(FILES / 100)}/file-${i}.bin`;
    const key = `files/tree/${rel}`;
    putDone.delete(key);
    await writeFile(join(root, rel), randomBytes(SIZE));
    const closed = performance.now();
    while (!putDone.has(key)) await new Promise((r) => setTimeout(r, 2));
    samples.push(putDone.get(key)! - closed);
    await new Promise((r) => setTimeout(r, 30));
  }
  await sync.stop();
  samples.sort((a, b) => a - b);
  const pct = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!;
  say('persistd', `change → object (${LATENCY_SAMPLES} samples)`, `p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms`, '');
}

async function main(): Promise<void> {
  let rgw: RunningRgw | undefined;
  let s3: TestS3Config;
  if (process.env.PERSISTD_TEST_S3_ENDPOINT) {
    s3 = {
      endpoint: process.env.PERSISTD_TEST_S3_ENDPOINT,
      region: process.env.PERSISTD_TEST_S3_REGION ?? 'us-east-1',
      accessKeyId: process.env.PERSISTD_TEST_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.PERSISTD_TEST_S3_SECRET_ACCESS_KEY ?? '',
    };
  } else {
    // Three copies of the tree (persistd, rclone, aws) plus the raw ceiling objects, in the OSD's RAM.
    rgw = await startRgw({ memstoreBytes: Math.max((small ? 3 : 6) * 1024 ** 3, Math.ceil(4 * TOTAL_BYTES * 1.5)) });
    s3 = rgw;
  }
  const work = await mkdtemp(join(tmpdir(), 'persistd-bench-files-'));
  const bucket = `bench-files-${Date.now().toString(36)}`;
  const raw = createRawS3Client(s3);
  const store = new S3Store({
    bucket,
    prefix: '',
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  try {
    await raw.send(new CreateBucketCommand({ Bucket: bucket }));
    await store.put('warm-up', 'x');
    const root = join(work, 'tree');
    const [, genMs] = await timed(() => makeTree(root));
    process.stderr.write(`tree of ${FILES} × ${SIZE} B + ${LARGE_FILES} × ${LARGE_BYTES / 2 ** 20} MiB written in ${secs(genMs)}\n`);
    if (CEILING) await ceilings(store);
    await tools(s3, bucket, root, work);
    if (LATENCY_SAMPLES > 0 && runs('persistd')) {
      const watched = new S3Store({
        bucket,
        prefix: 'persistd/',
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      });
      await latency(watched, root, join(work, 'state')).finally(() => watched.destroy());
    }
    const title = `${FILES} files × ${SIZE} B${LARGE_FILES > 0 ? ` + ${LARGE_FILES} × ${LARGE_BYTES / 2 ** 20} MiB` : ''}, concurrency ${CONCURRENCY}`;
    process.stdout.write(
      `\n| tool | step (${title}) | wall time | peak RSS |\n|---|---|---|---|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`,
    );
  } finally {
    store.destroy();
    raw.destroy();
    await rm(work, { recursive: true, force: true });
    await rgw?.stop();
  }
}

await main();
