/**
 * SQLite snapshot benchmark: `npm run bench:snapshot -- [--size 1GiB] [--writer-rate 200] [--litestream <binary>] [--no-peers] [--no-variants] [--no-age] [--restores 3]`.
 * Builds a database of `--size`, keeps a python writer committing small transactions, and measures on
 * one test S3 server in one run: the raw upload and download ceiling; `persistd backup` and
 * `persistd restore` as real processes (time, MiB/s, peak RSS); in-process snapshots with other gzip
 * settings; a "backup script" (`sqlite3` copy + `gzip -1` + `aws s3 cp` or `rclone rcat`) and its
 * restore; Litestream 0.3.13's first snapshot and restore when its binary is found; the writer's p99
 * commit latency with and without a snapshot running; `persistd backup` and `restore` again with the replica
 * encrypted with age (`--no-age` skips them). persistd's and Litestream's restores run `--restores` times
 * each, back to back, each followed by a timed `sync` of its file; the median is shown. Uses the built CLI:
 * `npm run build` first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { generateIdentity } from '../src/crypto/age-keys.js';
import { defaultCompressionConcurrency } from '../src/sqlite/parallel-gzip.js';
import { snapshotDatabase } from '../src/sqlite/snapshot-database.js';
import { startBenchS3, type BenchS3 } from './support/bench-s3.js';
import { findLitestream, LITESTREAM_MISSING_NOTE } from './support/litestream.js';
import { runMeasured, type MeasuredRun } from './support/measured-command.js';
import { parseSteadyCommits, STEADY_WRITER_PY } from './support/steady-writer.js';

const { values: flags } = parseArgs({
  options: {
    size: { type: 'string', default: '1GiB' },
    'writer-rate': { type: 'string', default: '200' },
    litestream: { type: 'string' },
    'no-peers': { type: 'boolean', default: false },
    'no-variants': { type: 'boolean', default: false },
    'no-age': { type: 'boolean', default: false },
    restores: { type: 'string', default: '3' },
  },
});
const MiB = 1 << 20;
const sizeBytes = parseSize(flags.size!);
const writerRate = Number(flags['writer-rate']);
const PERSISTD_BIN = fileURLToPath(new URL('../bin/persistd.js', import.meta.url));
const BUCKET = 'bench';

/** `1GiB`, `1G`, `512MiB`, `512M`, or a plain number of MiB. */
function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(g|gi|gib|gb|m|mi|mib|mb)?$/i.exec(text.trim());
  if (!match) throw new Error(`--size ${text}: expected e.g. 1GiB, 256MiB or a number of MiB`);
  const unit = (match[2] ?? 'm').toLowerCase();
  return Math.round(Number(match[1]) * (unit.startsWith('g') ? 1024 * MiB : MiB));
}

interface Row {
  step: string;
  ms?: number;
  bytes?: number;
  rssMiB?: number;
  storedBytes?: number;
  note?: string;
}

function buildDatabase(path: string): void {
  // ~1 KiB per row of hex text: compresses about 2:1, like a typical app database.
  const rows = Math.ceil(sizeBytes / 1100);
  const sql = `PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ${rows}) INSERT INTO t (pad) SELECT hex(randomblob(500)) FROM c;
    PRAGMA wal_checkpoint(TRUNCATE);`;
  const result = spawnSync('sqlite3', [path, sql], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error('sqlite3 failed to build the database');
}

function randomStream(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      const n = Math.min(left, MiB);
      left -= n;
      this.push(n > 0 ? randomBytes(n) : null);
    },
  });
}

const f = (n: number | undefined, digits = 1): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));
const discard = (): Writable => new Writable({ write: (_chunk, _enc, cb) => cb() });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function p99(latencies: number[]): number {
  if (latencies.length === 0) return NaN;
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

/** Bytes stored under `prefix` in the bench bucket. */
async function storedBytes(s3: BenchS3, prefix: string, match: (key: string) => boolean = () => true): Promise<number> {
  let total = 0;
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key && match(o.Key)) total += o.Size ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return total;
}

/** The `snapshot stored` log line of a `persistd backup` run (JSON logs on a non-TTY stderr). */
function snapshotLog(run: MeasuredRun): { ms: number; copyMs: number; compressed: number; inPlace: boolean } | undefined {
  for (const line of run.stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; ms?: number; copyMs?: number; compressed?: number; inPlace?: boolean };
      if (entry.msg === 'snapshot stored')
        return { ms: entry.ms ?? NaN, copyMs: entry.copyMs ?? NaN, compressed: entry.compressed ?? NaN, inPlace: entry.inPlace === true };
    } catch {
      // not a log line
    }
  }
  return undefined;
}

function startWriter(path: string): { child: ChildProcess; stop(): Promise<[number, number][]> } {
  const child = spawn('python3', ['-c', STEADY_WRITER_PY, path, String(writerRate)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return parseSteadyCommits(out).map((c): [number, number] => [c.startMs, c.latencyMs]);
    },
  };
}

/** Litestream 0.3.13 has no one-shot snapshot: `replicate` uploads a full snapshot when it starts a generation; timed until that object is listed. */
async function litestreamSnapshot(binary: string, s3: BenchS3, dbPath: string, config: string): Promise<Row> {
  const child = spawn(binary, ['replicate', '-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = performance.now();
  let ms: number | undefined;
  let hwmKiB = 0;
  const deadline = Date.now() + Math.max(120_000, (sizeBytes / MiB) * 1000);
  try {
    while (Date.now() < deadline && child.exitCode === null) {
      hwmKiB = Math.max(hwmKiB, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0));
      const page = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'litestream/' }));
      if ((page.Contents ?? []).some((o) => o.Key?.includes('/snapshots/'))) {
        ms = performance.now() - started;
        break;
      }
      await sleep(100);
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  if (ms === undefined)
    return { step: 'litestream 0.3.13: first snapshot (lz4)', note: `no snapshot appeared: ${log.trim().split('\n').slice(-2).join(' ')}` };
  return {
    step: 'litestream 0.3.13 replicate: first snapshot (lz4) listed',
    ms,
    bytes: (await stat(dbPath)).size,
    rssMiB: hwmKiB / 1024,
    storedBytes: await storedBytes(s3, 'litestream/', (k) => k.includes('/snapshots/')),
    note: 'from process start, polled every 100 ms',
  };
}

async function main(): Promise<void> {
  if (!existsSync(fileURLToPath(new URL('../dist/', import.meta.url)))) {
    throw new Error('dist/ is missing: run `npm run build` first (the benchmark runs the built CLI)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'persistd-bench-snapshot-'));
  const path = join(dir, 'app.db');
  const sizeGiB = sizeBytes / (1024 * MiB);
  const s3 = await startBenchS3({ bucket: BUCKET, memstoreBytes: Math.max(4, Math.ceil(sizeGiB * 7) + 2) * 1024 ** 3 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_DEFAULT_REGION: s3.region,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph',
    RCLONE_CONFIG_BENCH_ENDPOINT: s3.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_BENCH_REGION: s3.region,
  };
  const persistd = (
    args: string[],
    variant: { prefix: string; extraEnv: NodeJS.ProcessEnv } = { prefix: 'persistd', extraEnv: {} },
  ): Promise<MeasuredRun> =>
    runMeasured(
      process.execPath,
      [
        PERSISTD_BIN,
        ...args,
        '--to',
        `s3://${BUCKET}/${variant.prefix}`,
        '--endpoint',
        s3.endpoint,
        '--region',
        s3.region,
        '--db',
        `app=${path}`,
        '--state-dir',
        join(dir, `state-${variant.prefix}`),
        '--log-level',
        'info',
      ],
      { env: { ...env, ...variant.extraEnv } },
    );
  const key = generateIdentity();
  const encrypted = { prefix: 'persistd-age', extraEnv: { PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: key.secret } };
  const bash = (script: string, extraEnv: Record<string, string>): Promise<MeasuredRun> =>
    runMeasured('bash', ['-c', `set -euo pipefail; ${script}`], { env: { ...env, ...extraEnv } });
  const rows: Row[] = [];
  const litestream = flags['no-peers'] ? undefined : findLitestream(flags.litestream);
  let writer: ReturnType<typeof startWriter> | undefined;
  try {
    process.stderr.write(`building a ${(sizeBytes / MiB).toFixed(0)} MiB database...\n`);
    buildDatabase(path);
    const dbBytes = (await stat(path)).size;
    const ceilingStore = s3.store('raw/');
    const upload = await timed(() => ceilingStore.put('upload', randomStream(dbBytes)));
    rows.push({ step: 'raw upload ceiling (S3Store, random bytes, in-process)', ms: upload.ms, bytes: dbBytes });
    const download = await timed(() => ceilingStore.get('upload').then((body) => pipeline(body, discard())));
    await ceilingStore.delete(['upload']);

    writer = startWriter(path);
    await new Promise<void>((resolve) => writer!.child.stdout!.once('data', () => resolve()));
    const quietStart = Date.now();
    await sleep(3000);
    const snapStart = Date.now();
    process.stderr.write('persistd backup...\n');
    const backup = await persistd(['backup']);
    const snapEnd = Date.now();
    const logged = snapshotLog(backup);
    rows.push({
      step: 'persistd backup (CLI; zstd -1 in 4 MiB chunks)',
      ms: backup.ms,
      bytes: dbBytes,
      rssMiB: backup.peakRssMiB,
      storedBytes: logged?.compressed,
      note: logged
        ? logged.inPlace === true
          ? 'read in place: copy, compression and upload overlapped'
          : `copy ${(logged.copyMs / 1000).toFixed(2)} s, compress + upload ${((logged.ms - logged.copyMs) / 1000).toFixed(2)} s`
        : 'no snapshot log line',
    });

    if (!flags['no-age']) {
      process.stderr.write('persistd backup, age-encrypted...\n');
      const aged = await persistd(['backup'], encrypted);
      const agedLog = snapshotLog(aged);
      rows.push({
        step: 'persistd backup, age-encrypted (CLI)',
        ms: aged.ms,
        bytes: dbBytes,
        rssMiB: aged.peakRssMiB,
        storedBytes: await storedBytes(s3, 'persistd-age/', (k) => /\.db\.(gz|zst)$/.test(k)),
        note: agedLog ? `${f((aged.ms / backup.ms) * 100, 0)}% of the plain backup's time` : 'no snapshot log line',
      });
    }

    if (!flags['no-variants']) {
      for (const [label, level, threads] of [
        ['gzip -1 (format 1), 1 member at a time (as one zlib stream)', 1, 1],
        [`gzip -1 (format 1), ${defaultCompressionConcurrency()} parallel members`, 1, undefined],
      ] as const) {
        process.stderr.write(`in-process snapshot, ${label}...\n`);
        const variant = await timed(() =>
          snapshotDatabase({
            store: s3.store(`variant-${level}-${threads ?? 'p'}/`),
            name: 'app',
            path,
            stateDir: join(dir, `state-${level}-${threads ?? 'p'}`),
            gzipLevel: level,
            encoding: 'gzip',
            ...(threads !== undefined ? { compressionConcurrency: threads } : {}),
          }),
        );
        const created = variant.value.outcome === 'created' ? variant.value.manifest.data.size : undefined;
        rows.push({
          step: `in-process snapshot, ${label}`,
          ms: variant.ms,
          bytes: dbBytes,
          storedBytes: created,
          note: 'library call, RSS not separable',
        });
      }
      process.stderr.write('in-process snapshot, zstd chunks from a copy on disk...\n');
      const copied = await timed(() =>
        snapshotDatabase({ store: s3.store('variant-copy/'), name: 'app', path, stateDir: join(dir, 'state-copy'), copyOnDisk: true }),
      );
      rows.push({
        step: 'in-process snapshot, zstd -1 chunks, backup-API copy first (as a rollback-journal database)',
        ms: copied.ms,
        bytes: dbBytes,
        storedBytes: copied.value.outcome === 'created' ? copied.value.manifest.data.size : undefined,
        note: 'library call, RSS not separable',
      });
    }

    const litestreamConfig = join(dir, 'litestream.yml');
    if (litestream) {
      await writeFile(
        litestreamConfig,
        [
          'dbs:',
          `  - path: ${path}`,
          '    replicas:',
          '      - type: s3',
          `        bucket: ${BUCKET}`,
          '        path: litestream',
          `        endpoint: ${s3.endpoint}`,
          `        region: ${s3.region}`,
          '        force-path-style: true',
          `        access-key-id: ${s3.credentials.accessKeyId}`,
          `        secret-access-key: ${s3.credentials.secretAccessKey}`,
          '',
        ].join('\n'),
      );
      process.stderr.write('litestream replicate...\n');
      rows.push(await litestreamSnapshot(litestream, s3, path, litestreamConfig));
    }

    if (!flags['no-peers']) {
      // The sqlite3 shell's .backup copies 100 pages per step and starts over whenever another connection
      // commits in between: under a steady writer it may never finish. Shown with a deadline.
      const copy = join(dir, 'script-copy.db');
      const deadlineS = Math.max(10, Math.ceil((3 * backup.ms) / 1000));
      process.stderr.write(`sqlite3 .backup (deadline ${deadlineS} s)...\n`);
      const dotBackup = await runMeasured('timeout', [String(deadlineS), 'sqlite3', path, `.backup ${copy}`], { env, check: false });
      rows.push(
        dotBackup.code === 0
          ? { step: 'sqlite3 .backup alone (copy only)', ms: dotBackup.ms, bytes: dbBytes, rssMiB: dotBackup.peakRssMiB }
          : {
              step: 'sqlite3 .backup alone (copy only)',
              rssMiB: dotBackup.peakRssMiB,
              note: `not done after ${deadlineS} s (restarts on every commit of the writer)`,
            },
      );
      await rm(copy, { force: true });
      // So the scripts copy with VACUUM INTO, which reads inside one transaction like persistd does.
      process.stderr.write('backup script (aws)...\n');
      const aws = await bash(
        'sqlite3 "$DB" "VACUUM INTO \'$COPY\'"; gzip -1 -c "$COPY" | aws s3 cp - "s3://$BUCKET/script/app.db.gz" --endpoint-url "$EP" --only-show-errors; rm -f "$COPY"',
        { DB: path, COPY: copy, BUCKET, EP: s3.endpoint },
      );
      rows.push({
        step: 'script: sqlite3 VACUUM INTO + gzip -1 + aws s3 cp -',
        ms: aws.ms,
        bytes: dbBytes,
        rssMiB: aws.peakRssMiB,
        storedBytes: await storedBytes(s3, 'script/'),
      });
      process.stderr.write('backup script (rclone)...\n');
      const rclone = await bash(
        'sqlite3 "$DB" "VACUUM INTO \'$COPY\'"; gzip -1 -c "$COPY" | rclone rcat "bench:$BUCKET/rclone/app.db.gz"; rm -f "$COPY"',
        { DB: path, COPY: copy, BUCKET },
      );
      rows.push({
        step: 'script: sqlite3 VACUUM INTO + gzip -1 + rclone rcat',
        ms: rclone.ms,
        bytes: dbBytes,
        rssMiB: rclone.peakRssMiB,
        storedBytes: await storedBytes(s3, 'rclone/'),
      });
    }

    const commits = await writer.stop();
    writer = undefined;
    const during = commits.filter(([t]) => t >= snapStart && t <= snapEnd).map(([, ms]) => ms);
    const before = commits.filter(([t]) => t >= quietStart && t < snapStart).map(([, ms]) => ms);

    rows.push({ step: 'raw download ceiling (S3Store, in-process)', ms: download.ms, bytes: dbBytes });
    const rounds = Math.max(1, Number(flags.restores));
    // Each tool's restores back to back (the first one after the backups pays for the kernel reclaiming their
    // memory; a restore right after another tool's pays for that one's), then a `sync` of the restored file:
    // what a restore left unwritten is not charged to the next one, and is shown.
    const restores = async (run: (out: string) => Promise<MeasuredRun>): Promise<{ runs: MeasuredRun[]; syncMs: number[] }> => {
      const runs: MeasuredRun[] = [];
      const syncMs: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const out = join(dir, 'restored.db');
        runs.push(await run(out));
        syncMs.push((await runMeasured('sync', [out], { check: false })).ms);
        await rm(out, { force: true });
      }
      return { runs, syncMs };
    };
    process.stderr.write(`persistd restore x${rounds}...\n`);
    const ours = await restores((out) => persistd(['restore', '-o', out]));
    const restore = medianRun(ours.runs);
    rows.push({ step: 'persistd restore (CLI; sha256 + integrity_check)', ...restoreFigures(ours, dbBytes) });
    const quick = await persistd(['restore', '--quick-check', '-o', join(dir, 'restored-quick.db')]);
    rows.push({ step: 'persistd restore --quick-check (CLI)', ms: quick.ms, bytes: dbBytes, rssMiB: quick.peakRssMiB });
    await rm(join(dir, 'restored.db'), { force: true });
    await rm(join(dir, 'restored-quick.db'), { force: true });
    if (!flags['no-age']) {
      process.stderr.write('persistd restore, age-encrypted...\n');
      const aged = await persistd(['restore', '-o', join(dir, 'restored-age.db')], encrypted);
      rows.push({
        step: 'persistd restore, age-encrypted (CLI)',
        ms: aged.ms,
        bytes: dbBytes,
        rssMiB: aged.peakRssMiB,
        note: `${f((aged.ms / restore.ms) * 100, 0)}% of the plain restore's time`,
      });
      await rm(join(dir, 'restored-age.db'), { force: true });
    }

    if (!flags['no-peers']) {
      const out = join(dir, 'script-restored.db');
      const aws = await bash('aws s3 cp "s3://$BUCKET/script/app.db.gz" - --endpoint-url "$EP" --only-show-errors | gunzip > "$OUT"', {
        BUCKET,
        EP: s3.endpoint,
        OUT: out,
      });
      rows.push({ step: 'script restore: aws s3 cp - | gunzip (no check)', ms: aws.ms, bytes: dbBytes, rssMiB: aws.peakRssMiB });
      const check = await bash('test "$(sqlite3 "$OUT" "PRAGMA integrity_check")" = ok', { OUT: out });
      rows.push({
        step: 'script restore + sqlite3 integrity_check',
        ms: aws.ms + check.ms,
        bytes: dbBytes,
        rssMiB: Math.max(aws.peakRssMiB ?? 0, check.peakRssMiB ?? 0),
      });
      await rm(out, { force: true });
      const rclone = await bash('rclone cat "bench:$BUCKET/rclone/app.db.gz" | gunzip > "$OUT"', { BUCKET, OUT: out });
      rows.push({ step: 'script restore: rclone cat | gunzip (no check)', ms: rclone.ms, bytes: dbBytes, rssMiB: rclone.peakRssMiB });
      await rm(out, { force: true });
    }
    if (litestream) {
      process.stderr.write(`litestream restore x${rounds}...\n`);
      const theirs = await restores((out) =>
        runMeasured(litestream, ['restore', '-config', litestreamConfig, '-o', out, path], { env, check: false }),
      );
      const failed = theirs.runs.find((run) => run.code !== 0);
      rows.push(
        failed === undefined
          ? { step: 'litestream 0.3.13 restore', ...restoreFigures(theirs, dbBytes) }
          : { step: 'litestream 0.3.13 restore', note: `failed: ${failed.stderr.trim().split('\n').slice(-1)[0] ?? ''}` },
      );
    }

    console.log(
      `\nsnapshot benchmark: database ${f(dbBytes / MiB, 0)} MiB (WAL), writer ${writerRate} commits/s; ${availableParallelism()} cores, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; ${s3.endpoint}\n`,
    );
    console.log('| step | seconds | MiB/s of DB | peak RSS MiB | stored MiB | note |');
    console.log('|---|---|---|---|---|---|');
    for (const row of rows) {
      const rate = row.ms !== undefined && row.bytes !== undefined ? row.bytes / MiB / (row.ms / 1000) : undefined;
      console.log(
        `| ${row.step.replaceAll('|', '\\|')} | ${f(row.ms === undefined ? undefined : row.ms / 1000, 2)} | ${f(rate)} | ${f(row.rssMiB, 0)} | ${f(row.storedBytes === undefined ? undefined : row.storedBytes / MiB, 0)} | ${row.note ?? ''} |`,
      );
    }
    console.log(
      `\nwriter p99 commit latency: ${f(p99(before), 2)} ms without a snapshot (${before.length} commits), ${f(p99(during), 2)} ms during \`persistd backup\` (${during.length} commits)`,
    );
    const ratio = (ours: string, theirs: string): string | undefined => {
      const a = rows.find((row) => row.step.startsWith(ours))?.ms;
      const b = rows.find((row) => row.step.startsWith(theirs))?.ms;
      return a !== undefined && b !== undefined ? f(a / b, 2) : undefined;
    };
    const backupRatio = ratio('persistd backup', 'litestream 0.3.13 replicate');
    const restoreRatio = ratio('persistd restore (CLI', 'litestream 0.3.13 restore');
    if (backupRatio !== undefined && restoreRatio !== undefined)
      console.log(`persistd / Litestream: backup ${backupRatio}x its first snapshot, restore ${restoreRatio}x its restore (medians)`);
    if (!litestream && !flags['no-peers']) console.log(LITESTREAM_MISSING_NOTE);
  } finally {
    if (writer) await writer.stop();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The run of median time. */
function medianRun(runs: readonly MeasuredRun[]): MeasuredRun {
  return [...runs].sort((a, b) => a.ms - b.ms)[Math.floor((runs.length - 1) / 2)]!;
}

/** A row's figures for repeated restores: the median time, the highest peak RSS, every time and the median `sync` after it in the note. */
function restoreFigures(
  { runs, syncMs }: { runs: readonly MeasuredRun[]; syncMs: readonly number[] },
  bytes: number,
): Pick<Row, 'ms' | 'bytes' | 'rssMiB' | 'note'> {
  const sync = [...syncMs].sort((a, b) => a - b)[Math.floor((syncMs.length - 1) / 2)] ?? 0;
  return {
    ms: medianRun(runs).ms,
    bytes,
    rssMiB: Math.max(...runs.map((run) => run.peakRssMiB ?? 0)),
    note: `median of ${runs.map((run) => f(run.ms / 1000, 2)).join(', ')} s; then \`sync\` of the file ${f(sync / 1000, 2)} s`,
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
