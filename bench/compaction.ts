/**
 * Compaction benchmark: `npm run bench:compaction -- [--size 64] [--seconds 60] [--rate 20] [--compact-every 15] [--cases both|incremental|full]`.
 * A WAL-mode database of `--size` MiB of incompressible rows is replicated by a WalShipper (one sync per
 * second) while the app commits `--rate` small transactions per second (each updates one row and
 * inserts one), and a compaction point is asked for every `--compact-every` seconds: once with
 * incremental compaction points (the default), once with full snapshots at every point (0.1's
 * behaviour, `--full-snapshot-interval 0`), each on a fresh copy of the same database. Prints, for
 * both, the bytes uploaded after the generation's first snapshot next to the WAL bytes committed,
 * the bytes stored at the end, and the restore time of the latest state (which must hold every row
 * committed) next to the restore of the same state from one full snapshot. Runs against a
 * throwaway Ceph RGW (or PERSISTD_TEST_S3_ENDPOINT).
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { restoreDatabase } from '../src/sqlite/restore-database.js';
import { WalShipper } from '../src/sqlite/wal/wal-shipper.js';
import { CountingStore } from '../src/store/counting-store.js';
import type { ObjectStore } from '../src/store/object-store.js';
import { startBenchS3 } from './support/bench-s3.js';
import { createIncompressibleDatabase } from './support/incompressible-db.js';

const { values: flags } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '20' },
    'compact-every': { type: 'string', default: '15' },
    /** `incremental`, `full` or `both`: which cases run (a large database may skip the full-every-time case). */
    cases: { type: 'string', default: 'both' },
  },
});
const sizeMiB = Number(flags.size);
const seconds = Number(flags.seconds);
const rate = Number(flags.rate);
const compactEveryMs = Number(flags['compact-every']) * 1000;

interface Outcome {
  label: string;
  /** Restore time of the same state from one full snapshot (taken after the run). */
  fullRestoreMs?: number;
  walBytes: number;
  uploadedAfterStart: number;
  points: string[];
  storedBytes: number;
  restoreMs: number;
  rowsOk: boolean;
}

function countRows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM item').pluck().get() as number;
  } finally {
    db.close();
  }
}

async function storedBytes(store: ObjectStore, prefix: string): Promise<number> {
  let total = 0;
  for await (const info of store.list(prefix)) total += info.size;
  return total;
}

async function runCase(
  label: string,
  source: string,
  dir: string,
  store: CountingStore,
  fullSnapshotIntervalMs: number | undefined,
): Promise<Outcome> {
  const path = join(dir, `${label}.db`);
  copyFileSync(source, path);
  const name = label;
  const ship = new WalShipper({
    store,
    name,
    path,
    stateDir: join(dir, `state-${label}`),
    ...(fullSnapshotIntervalMs !== undefined ? { fullSnapshotIntervalMs } : {}),
  });
  await ship.syncOnce();
  const start = store.snapshot().put.bytes;
  const app = new Database(path);
  app.pragma('wal_autocheckpoint = 1000');
  const update = app.prepare('UPDATE item SET v = v + 1 WHERE id = ?');
  const insert = app.prepare('INSERT INTO item (v, pad) VALUES (-1, randomblob(100))');
  const maxId = app.prepare('SELECT max(id) FROM item').pluck().get() as number;
  let walFrames = 0;
  const pageSize = app.pragma('page_size', { simple: true }) as number;
  let inserted = 0;
  const commit = app.transaction(() => {
    update.run(1 + Math.floor(Math.random() * maxId));
    insert.run();
    inserted++;
  });
  const points: string[] = [];
  const began = Date.now();
  let nextCompaction = began + compactEveryMs;
  let nextCommit = began;
  let nextSync = began + 1000;
  while (Date.now() - began < seconds * 1000) {
    const now = Date.now();
    if (now >= nextCommit) {
      commit();
      nextCommit += 1000 / rate;
    }
    if (now >= nextSync) {
      const result = await ship.syncOnce();
      if (result.outcome === 'synced') walFrames += result.frames;
      nextSync += 1000;
    }
    if (now >= nextCompaction) {
      const result = await ship.snapshotOnce();
      if (result.outcome === 'synced') walFrames += result.frames;
      if (result.outcome === 'synced' && result.newGeneration) points.push(result.newGeneration.kind);
      nextCompaction += compactEveryMs;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(nextCommit, nextSync, nextCompaction) - Date.now())));
  }
  const last = await ship.syncOnce({ drain: true });
  if (last.outcome === 'synced') walFrames += last.frames;
  const uploadedAfterStart = store.snapshot().put.bytes - start;
  const expectedRows = app.prepare('SELECT count(*) FROM item').pluck().get() as number;
  app.close();
  await ship.stop({ final: false });
  const stored = await storedBytes(store, `db/${name}/`);
  const restored = join(dir, `restored-${label}`, `${label}.db`);
  const t0 = performance.now();
  await restoreDatabase({ store, name, target: restored });
  const restoreMs = performance.now() - t0;
  const rows = countRows(restored);
  // The same state from one full snapshot: a new generation of the same file, restored on its own.
  const full = new WalShipper({ store, name: `${name}-full`, path, stateDir: join(dir, `state-${label}-full`), fullSnapshotIntervalMs: 0 });
  await full.syncOnce();
  await full.stop({ final: false });
  const fullRestored = join(dir, `restored-${label}-full`, `${label}.db`);
  const t1 = performance.now();
  await restoreDatabase({ store, name: `${name}-full`, target: fullRestored });
  const fullRestoreMs = performance.now() - t1;
  return {
    label,
    walBytes: walFrames * (pageSize + 24),
    uploadedAfterStart,
    points,
    storedBytes: stored,
    restoreMs,
    fullRestoreMs,
    rowsOk: rows === expectedRows && countRows(fullRestored) === expectedRows && inserted > 0,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'persistd-bench-compaction-'));
  const s3 = await startBenchS3({ bucket: `bench-compaction-${Date.now().toString(36)}` });
  try {
    const source = join(dir, 'source.db');
    createIncompressibleDatabase(source, sizeMiB);
    const store = new CountingStore(s3.store('persistd/'));
    const results: Outcome[] = [];
    if (flags.cases !== 'full') results.push(await runCase('incremental', source, dir, store, undefined));
    if (flags.cases !== 'incremental') results.push(await runCase('full-every-time', source, dir, store, 0));
    const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      `\ncompaction: ${sizeMiB} MiB database, ${rate} commits/s for ${seconds} s, a compaction point every ${compactEveryMs / 1000} s (S3: ${s3.endpoint})`,
    );
    console.log(
      '| compaction points | WAL committed | uploaded after the first snapshot | ratio | stored at the end | restore of the latest state | same state from one full snapshot | rows |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    const count = (points: string[]): string => [...new Set(points)].map((k) => `${points.filter((p) => p === k).length} ${k}`).join(', ');
    for (const r of results) {
      const ratio = r.fullRestoreMs ? ` (${(r.restoreMs / r.fullRestoreMs).toFixed(2)}x)` : '';
      console.log(
        `| ${r.label} (${count(r.points)}) | ${mib(r.walBytes)} | ${mib(r.uploadedAfterStart)} | ${(r.uploadedAfterStart / r.walBytes).toFixed(1)}x | ${mib(r.storedBytes)} ` +
          `| ${(r.restoreMs / 1000).toFixed(2)} s${ratio} | ${r.fullRestoreMs ? `${(r.fullRestoreMs / 1000).toFixed(2)} s` : ''} | ${r.rowsOk ? 'all' : 'MISSING'} |`,
      );
    }
  } finally {
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
