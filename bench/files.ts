/**
 * Benchmark of directory sync (issue 4): `npx tsx bench/files.ts [--large] [--files N --size BYTES]`.
 * Starts a throwaway Ceph RGW (or uses PERSISTD_TEST_S3_ENDPOINT + keys) and measures, in one run:
 * the server's raw PUT/GET ceiling, persistd's first upload, second pass (requests counted), change-to-object
 * latency, restore, RSS; and the same tree with `rclone sync` and `aws s3 sync` (Debian's) for comparison.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { restoreTree } from '../src/files/restore-tree.js';
import { TaskPool } from '../src/files/task-pool.js';
import { TreeSync } from '../src/files/tree-sync.js';
import type { ObjectStore } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { createRawS3Client } from '../test/support/s3-server/raw-s3-client.js';
import { startRgw, type RunningRgw } from '../test/support/s3-server/rgw.js';
import type { TestS3Config } from '../test/support/test-s3.js';
import { CountingStore } from '../test/files/counting-store.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const large = args.includes('--large');
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const FILES = arg('--files', large ? 100_000 : 5_000);
const SIZE = arg('--size', large ? 2048 : 8192);
const CONCURRENCY = arg('--concurrency', 16);
const LATENCY_SAMPLES = arg('--latency-samples', 50);

let peakRss = 0;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
const rows: [string, string][] = [];
const say = (label: string, value: string): void => {
  rows.push([label, value]);
  process.stderr.write(`${label.padEnd(52)} ${value}\n`);
};
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const rate = (n: number, ms: number): string => `${secs(ms)}  (${Math.round((n * 1000) / ms)} files/s)`;

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
}

async function ceilings(store: ObjectStore): Promise<void> {
  const body = randomBytes(SIZE);
  const pool = new TaskPool(CONCURRENCY);
  const [, putMs] = await timed(async () => {
    for (let i = 0; i < FILES; i++) await pool.add(() => store.put(`raw/${i}`, body).then(() => undefined));
    await pool.drain();
  });
  say(`raw PUT ceiling (${FILES} × ${SIZE} B, concurrency ${CONCURRENCY})`, rate(FILES, putMs));
  const [, getMs] = await timed(async () => {
    for (let i = 0; i < FILES; i++) await pool.add(async () => { for await (const _ of await store.get(`raw/${i}`)) void _; });
    await pool.drain();
  });
  say(`raw GET ceiling (concurrency ${CONCURRENCY})`, rate(FILES, getMs));
}

async function latency(store: ObjectStore, root: string, state: string): Promise<void> {
  const putDone = new Map<string, number>();
  const watched: ObjectStore = Object.create(store) as ObjectStore;
  watched.put = async (key, b, o) => {
    const info = await store.put(key, b, o);
    putDone.set(key, performance.now());
    return info;
  };
  const sync = new TreeSync({ store: watched, name: 'bench', root, stateDir: state, concurrency: CONCURRENCY, rescanIntervalMs: 0 });
  const [, startMs] = await timed(() => sync.start());
  say('persistd start() with index (watcher ready + reconcile)', secs(startMs));
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const rel = `d${i % Math.ceil(FILES / 100)}/file-${i}.bin`;
    const key = `files/bench/${rel}`;
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
  say(`change → object present (${LATENCY_SAMPLES} samples)`, `p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms, max ${samples.at(-1)!.toFixed(0)} ms`);
}

async function peers(s3: TestS3Config, bucket: string, root: string, work: string): Promise<void> {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_DEFAULT_REGION: s3.region, AWS_CA_BUNDLE: undefined,
    RCLONE_CONFIG_BENCH_TYPE: 's3', RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph', RCLONE_CONFIG_BENCH_ENDPOINT: s3.endpoint, RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: s3.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: s3.secretAccessKey, RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true', RCLONE_CONFIG_BENCH_REGION: s3.region };
  delete env.AWS_CA_BUNDLE;
  const tool = async (label: string, cmd: string, argv: string[]): Promise<void> => {
    try {
      const [, ms] = await timed(() => run(cmd, argv, { env, maxBuffer: 64 << 20 }));
      say(label, rate(FILES, ms));
    } catch (err) {
      say(label, `failed: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  const rc = ['--transfers', String(CONCURRENCY), '--checkers', String(CONCURRENCY * 2)];
  await tool('rclone sync, first upload', 'rclone', ['sync', root, `bench:${bucket}/rclone`, ...rc]);
  await tool('rclone sync, nothing changed (--checksum --fast-list)', 'rclone', ['sync', root, `bench:${bucket}/rclone`, '--checksum', '--fast-list', ...rc]);
  await tool('rclone sync, restore to an empty dir', 'rclone', ['sync', `bench:${bucket}/rclone`, join(work, 'rclone-restore'), ...rc]);
  const aws = ['--endpoint-url', s3.endpoint, '--only-show-errors'];
  await tool('aws s3 sync, first upload', '/usr/bin/aws', ['s3', 'sync', root, `s3://${bucket}/aws`, ...aws]);
  await tool('aws s3 sync, nothing changed', '/usr/bin/aws', ['s3', 'sync', root, `s3://${bucket}/aws`, ...aws]);
  await tool('aws s3 sync, restore to an empty dir', '/usr/bin/aws', ['s3', 'sync', `s3://${bucket}/aws`, join(work, 'aws-restore'), ...aws]);
}

/** What restore costs once the store's GET returns metadata (the change asked of src/store): one request per file. */
function withGetInfo(store: S3Store, raw: S3Client, bucket: string): ObjectStore {
  const wrapped = Object.create(store) as ObjectStore & { getWithInfo: unknown };
  wrapped.getWithInfo = async (key: string) => {
    const r = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { body: r.Body as Readable, info: { key, size: r.ContentLength ?? 0, etag: (r.ETag ?? '').replace(/"/g, ''), lastModified: r.LastModified ?? new Date(0), metadata: r.Metadata ?? {} } };
  };
  return wrapped;
}

async function main(): Promise<void> {
  let rgw: RunningRgw | undefined;
  let s3: TestS3Config;
  if (process.env.PERSISTD_TEST_S3_ENDPOINT) {
    s3 = { endpoint: process.env.PERSISTD_TEST_S3_ENDPOINT, region: process.env.PERSISTD_TEST_S3_REGION ?? 'us-east-1', accessKeyId: process.env.PERSISTD_TEST_S3_ACCESS_KEY_ID ?? '', secretAccessKey: process.env.PERSISTD_TEST_S3_SECRET_ACCESS_KEY ?? '' };
  } else {
    rgw = await startRgw({ memstoreBytes: (large ? 6 : 3) * 1024 ** 3 });
    s3 = rgw;
  }
  const work = await mkdtemp(join(tmpdir(), 'persistd-bench-files-'));
  const bucket = `bench-files-${Date.now().toString(36)}`;
  const raw = createRawS3Client(s3);
  const store = new S3Store({ bucket, prefix: '', endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  try {
    await raw.send(new CreateBucketCommand({ Bucket: bucket }));
    await store.put('warm-up', 'x');
    const root = join(work, 'tree');
    const [, genMs] = await timed(() => makeTree(root));
    process.stderr.write(`tree of ${FILES} × ${SIZE} B written in ${secs(genMs)}\n`);
    await ceilings(store);

    const counting = new CountingStore(store);
    const state = join(work, 'state');
    const first = new TreeSync({ store: counting, name: 'bench', root, stateDir: state, concurrency: CONCURRENCY, rescanIntervalMs: 0 });
    const [, firstMs] = await timed(() => first.syncOnce());
    await first.stop();
    say('persistd first upload (syncOnce)', `${rate(FILES, firstMs)}  requests ${JSON.stringify(counting.counts)}`);

    const c2 = new CountingStore(store);
    const second = new TreeSync({ store: c2, name: 'bench', root, stateDir: state, concurrency: CONCURRENCY, rescanIntervalMs: 0 });
    const [, secondMs] = await timed(() => second.syncOnce());
    await second.stop();
    say('persistd second pass, nothing changed (new process)', `${secs(secondMs)}  requests ${JSON.stringify(c2.counts)}`);

    await latency(store, root, state);

    for (const fsync of [true, false]) {
      const c3 = new CountingStore(store);
      const [report, restoreMs] = await timed(() => restoreTree({ store: c3, name: 'bench', root: join(work, `restore-${fsync}`), stateDir: join(work, `rstate-${fsync}`), concurrency: CONCURRENCY * 2, fsync }));
      say(`persistd restore to an empty dir (fsync ${fsync}, concurrency ${CONCURRENCY * 2})`, `${rate(report.downloaded, restoreMs)}  requests ${JSON.stringify(c3.counts)}`);
    }
    const [oneReq, oneMs] = await timed(() => restoreTree({ store: withGetInfo(store, raw, bucket), name: 'bench', root: join(work, 'restore-getinfo'), stateDir: join(work, 'rstate-getinfo'), concurrency: CONCURRENCY * 2 }));
    say(`persistd restore with GET-returns-metadata (no HEAD; store change pending)`, rate(oneReq.downloaded, oneMs));
    const c4 = new CountingStore(store);
    const after = new TreeSync({ store: c4, name: 'bench', root: join(work, 'restore-true'), stateDir: join(work, 'rstate-true'), rescanIntervalMs: 0 });
    const [, afterMs] = await timed(() => after.syncOnce());
    await after.stop();
    say('persistd first sync after a restore', `${secs(afterMs)}  requests ${JSON.stringify(c4.counts)}`);
    say('persistd peak RSS (whole run, this process)', `${(peakRss / 2 ** 20).toFixed(0)} MiB`);

    if (!args.includes('--no-peers')) await peers(s3, bucket, root, work);
    process.stdout.write(`\n| measure (${FILES} files × ${SIZE} B) | result |\n|---|---|\n${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}\n`);
  } finally {
    clearInterval(rssTimer);
    store.destroy();
    raw.destroy();
    await rm(work, { recursive: true, force: true });
    await rgw?.stop();
  }
}

await main();
