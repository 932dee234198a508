/**
 * SQLite snapshot benchmark: `npx tsx bench/snapshot.ts [--size-mib 1024] [--store rgw|file] [--writer-rate 200]`.
 * Builds a database, keeps a writer process committing small transactions, and measures snapshot
 * time and throughput against the raw upload ceiling of the same store, persistd's peak RSS, the
 * writer's p99 commit latency with and without a snapshot running, and restore time against the
 * raw download ceiling. Prints a table.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { restoreDatabase } from '../src/sqlite/restore-database.js';
import { snapshotDatabase } from '../src/sqlite/snapshot-database.js';
import { FsStore } from '../src/store/fs-store.js';
import type { ObjectStore } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { startRgw } from '../test/support/s3-server/rgw.js';

const { values: flags } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    store: { type: 'string', default: 'rgw' },
    'writer-rate': { type: 'string', default: '200' },
  },
});
const sizeMiB = Number(flags['size-mib']);
const writerRate = Number(flags['writer-rate']);
const MiB = 1 << 20;

// Commits one small row per transaction at a steady rate; on SIGTERM prints "<unix ms> <latency ms>" per commit.
const WRITER = `
import signal, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
db.execute('PRAGMA journal_mode=WAL'); db.execute('PRAGMA synchronous=NORMAL')
db.execute('CREATE TABLE IF NOT EXISTS w (id INTEGER PRIMARY KEY, v TEXT)')
stop = False
def term(*_):
    global stop; stop = True
signal.signal(signal.SIGTERM, term)
interval = 1.0 / float(sys.argv[2]); out = []
print('ready', flush=True)
nxt = time.time()
while not stop:
    t0 = time.time()
    db.execute('BEGIN IMMEDIATE'); db.execute('INSERT INTO w (v) VALUES (hex(randomblob(50)))'); db.execute('COMMIT')
    t1 = time.time(); out.append('%d %.3f' % (t0 * 1000, (t1 - t0) * 1000))
    nxt += interval; time.sleep(max(0, nxt - time.time()))
sys.stdout.write('\\n'.join(out) + '\\n')
`;

function buildDatabase(path: string): void {
  // ~1 KiB per row of hex text: compresses about 2:1, like a typical app database.
  const rows = Math.ceil((sizeMiB * MiB) / 1100);
  const sql = `PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ${rows}) INSERT INTO t (pad) SELECT hex(randomblob(500)) FROM c;
    PRAGMA wal_checkpoint(TRUNCATE);`;
  const result = spawnSync('sqlite3', [path, sql], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error('sqlite3 failed to build the database');
}

/** Samples this process's RSS every 20 ms while `work` runs; returns its result and the peak. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ value: T; peakMiB: number; ms: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  const started = performance.now();
  try {
    const value = await work();
    return { value, peakMiB: Math.max(peak, process.memoryUsage.rss()) / MiB, ms: performance.now() - started };
  } finally {
    clearInterval(timer);
  }
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

const discard = (): Writable => new Writable({ write: (_chunk, _enc, cb) => cb() });

function p99(latencies: number[]): number {
  if (latencies.length === 0) return NaN;
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'persistd-bench-snapshot-'));
  const path = join(dir, 'app.db');
  let store: ObjectStore;
  let stopServer = async (): Promise<void> => undefined;
  if (flags.store === 'file') {
    await mkdir(join(dir, 'store'));
    store = new FsStore(join(dir, 'store'));
  } else {
    const rgw = await startRgw({ memstoreBytes: Math.max(4, Math.ceil((sizeMiB * 4) / 1024) + 2) * 1024 ** 3, log: (l) => process.stderr.write(`[rgw] ${l}\n`) });
    const s3 = new S3Store({ bucket: 'bench', prefix: 'sqlite/', endpoint: rgw.endpoint, region: rgw.region, forcePathStyle: true,
      credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } });
    const { CreateBucketCommand, S3Client } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: rgw.endpoint, region: rgw.region, forcePathStyle: true,
      credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } });
    await client.send(new CreateBucketCommand({ Bucket: 'bench' }));
    client.destroy();
    await s3.put('warm-up', 'x');
    store = s3;
    stopServer = async () => {
      s3.destroy();
      await rgw.stop();
    };
  }
  let writer: ChildProcess | undefined;
  try {
    process.stderr.write(`building a ${sizeMiB} MiB database...\n`);
    buildDatabase(path);
    const dbBytes = (await stat(path)).size;

    const upload = await withPeakRss(() => store.put('raw/upload', randomStream(dbBytes)));
    const download = await withPeakRss(() => store.get('raw/upload').then((body) => pipeline(body, discard())));
    await store.delete(['raw/upload']);

    writer = spawn('python3', ['-c', WRITER, path, String(writerRate)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    writer.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    await new Promise<void>((resolve) => writer!.stdout!.once('data', () => resolve()));
    const exited = new Promise<void>((resolve) => writer!.once('exit', () => resolve()));
    const stateDir = join(dir, 'state');
    const quietStart = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const snapStart = Date.now();
    const snap = await withPeakRss(() => snapshotDatabase({ store, name: 'app', path, stateDir }));
    const snapEnd = Date.now();
    writer.kill('SIGTERM');
    await exited;
    if (snap.value.outcome !== 'created') throw new Error('no snapshot was taken');
    const commits = out.split('\n').slice(1).filter(Boolean).map((line) => line.split(' ').map(Number) as [number, number]);
    const during = commits.filter(([t]) => t >= snapStart && t <= snapEnd).map(([, ms]) => ms);
    const before = commits.filter(([t]) => t >= quietStart && t < snapStart).map(([, ms]) => ms);

    const restore = await withPeakRss(() => restoreDatabase({ store, name: 'app', target: join(dir, 'restored.db'), stateDir, quickCheck: false }));
    const restoreQuick = await withPeakRss(() => restoreDatabase({ store, name: 'app', target: join(dir, 'restored-quick.db'), stateDir, quickCheck: true }));

    const manifest = snap.value.manifest;
    const rate = (bytes: number, ms: number): string => ((bytes / MiB) / (ms / 1000)).toFixed(1);
    const rows: [string, string, string, string][] = [
      ['raw upload (random stream, DB size)', (upload.ms / 1000).toFixed(2), rate(dbBytes, upload.ms), upload.peakMiB.toFixed(0)],
      ['snapshot (copy + gzip + upload)', (snap.ms / 1000).toFixed(2), rate(dbBytes, snap.ms), snap.peakMiB.toFixed(0)],
      ['raw download (DB size)', (download.ms / 1000).toFixed(2), rate(dbBytes, download.ms), download.peakMiB.toFixed(0)],
      ['restore (integrity_check)', (restore.ms / 1000).toFixed(2), rate(dbBytes, restore.ms), restore.peakMiB.toFixed(0)],
      ['restore (quick_check)', (restoreQuick.ms / 1000).toFixed(2), rate(dbBytes, restoreQuick.ms), restoreQuick.peakMiB.toFixed(0)],
    ];
    console.log(`\nstore: ${store.description}; database ${(dbBytes / MiB).toFixed(0)} MiB, compressed ${(manifest.data.size / MiB).toFixed(0)} MiB; writer ${writerRate} commits/s (WAL, synchronous=NORMAL)\n`);
    console.log('| step | seconds | MiB/s (of DB size) | peak RSS MiB |');
    console.log('|---|---|---|---|');
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
    console.log(`\nwriter p99 commit latency: ${p99(before).toFixed(2)} ms without a snapshot (${before.length} commits), ${p99(during).toFixed(2)} ms during the snapshot (${during.length} commits)`);
  } finally {
    writer?.kill('SIGKILL');
    await stopServer();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
