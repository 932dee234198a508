/**
 * Storage under the default retention, time-compressed: `npm run bench:retention -- [--size 64]
 * [--scale 4032] [--periods 2.5] [--commits 40]`. The defaults (retention 7 days, a compaction point
 * every 5 minutes, a full snapshot at least weekly or once increments reach a quarter of the
 * database) are divided by `--scale` (4032: a week becomes 150 s, five minutes 74 ms). A WalShipper
 * replicates a database of `--size` MiB of incompressible rows into a file:// store while the app
 * commits `--commits` small transactions per (scaled) five minutes, each updating a random row and
 * inserting one; retention runs after every compaction point, as `persistd run` does. After
 * `--periods` retention periods it prints what the replica holds: next to one full copy, next to the
 * pages changed within the retention period (increments and WAL segments), and what keeping a full
 * copy per compaction point (persistd 0.1) would hold for the same period.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { parseSnapshotKey } from '../src/format/db-keys.js';
import { parseSegmentKey } from '../src/format/db-wal-keys.js';
import { applyRetention } from '../src/sqlite/apply-retention.js';
import { restoreDatabase } from '../src/sqlite/restore-database.js';
import { WalShipper } from '../src/sqlite/wal/wal-shipper.js';
import { FsStore } from '../src/store/fs-store.js';
import { createIncompressibleDatabase } from './support/incompressible-db.js';

const { values: flags } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    scale: { type: 'string', default: '4032' },
    periods: { type: 'string', default: '2.5' },
    commits: { type: 'string', default: '40' },
  },
});
const sizeMiB = Number(flags.size);
const scale = Number(flags.scale);
const WEEK = 7 * 24 * 3600_000;
const retentionMs = WEEK / scale;
const compactionMs = (5 * 60_000) / scale;
const fullIntervalMs = WEEK / scale;
const runMs = Number(flags.periods) * retentionMs;
const commitsPerInterval = Number(flags.commits);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'persistd-bench-retention-'));
  try {
    const path = join(dir, 'app.db');
    createIncompressibleDatabase(path, sizeMiB);
    mkdirSync(join(dir, 'store'));
    const store = new FsStore(join(dir, 'store'));
    const ship = new WalShipper({ store, name: 'app', path, stateDir: join(dir, 'state'), fullSnapshotIntervalMs: fullIntervalMs });
    await ship.syncOnce();
    const app = new Database(path);
    app.pragma('wal_autocheckpoint = 1000');
    const maxId = app.prepare('SELECT max(id) FROM item').pluck().get() as number;
    const update = app.prepare('UPDATE item SET v = v + 1 WHERE id = ?');
    const insert = app.prepare('INSERT INTO item (v, pad) VALUES (-1, randomblob(100))');
    const commit = app.transaction(() => {
      update.run(1 + Math.floor(Math.random() * maxId));
      insert.run();
    });
    const kinds = new Map<string, number>();
    const began = Date.now();
    let points = 0;
    while (Date.now() - began < runMs) {
      const intervalStart = Date.now();
      for (let i = 0; i < commitsPerInterval; i++) commit();
      await ship.syncOnce();
      const result = await ship.snapshotOnce();
      if (result.outcome === 'synced' && result.newGeneration)
        kinds.set(result.newGeneration.kind, (kinds.get(result.newGeneration.kind) ?? 0) + 1);
      points++;
      await applyRetention({ store, name: 'app', retentionMs, minKeep: 2 });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, compactionMs - (Date.now() - intervalStart))));
    }
    await ship.syncOnce({ drain: true });
    const rows = app.prepare('SELECT count(*) FROM item').pluck().get() as number;
    await ship.stop({ final: false });

    // One full copy of the database as it is at the end: a snapshot of it alone.
    const reference = new WalShipper({ store, name: 'reference', path, stateDir: join(dir, 'state-reference') });
    const last = await reference.syncOnce();
    await reference.stop({ final: false });
    const fullCopy = last.outcome === 'synced' ? last.newGeneration!.bytes : 0;
    let stored = 0;
    let fulls = 0;
    let fullBytes = 0;
    let changedBytes = 0;
    for await (const info of store.list('db/app/')) {
      stored += info.size;
      const snapshot = parseSnapshotKey(info.key);
      if (snapshot?.kind === 'data' && snapshot.point === 'full') {
        fulls++;
        fullBytes += info.size;
      } else if (snapshot?.kind === 'data' || parseSegmentKey(info.key)) {
        changedBytes += info.size;
      }
    }
    app.close();
    const restored = join(dir, 'restored', 'app.db');
    await restoreDatabase({ store, name: 'app', target: restored });
    const check = new Database(restored, { readonly: true });
    const restoredRows = check.prepare('SELECT count(*) FROM item').pluck().get() as number;
    check.close();

    const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    const pointsPerRetention = Math.round(retentionMs / compactionMs);
    console.log(
      `\nretention: ${sizeMiB} MiB database, defaults scaled down ${scale}x (retention ${(retentionMs / 1000).toFixed(0)} s, a compaction point every ${compactionMs.toFixed(0)} ms), ` +
        `${commitsPerInterval} commits per interval, ${(runMs / 1000).toFixed(0)} s (${flags.periods} retention periods), ${points} compaction points (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')})`,
    );
    console.log('| what | bytes | x one full copy |');
    console.log('|---|---|---|');
    console.log(`| one full copy of the database at the end (compressed) | ${mib(fullCopy)} | 1.0 |`);
    console.log(`| stored at the end: everything | ${mib(stored)} | ${(stored / fullCopy).toFixed(2)} |`);
    console.log(`| of which full snapshots (${fulls}) | ${mib(fullBytes)} | ${(fullBytes / fullCopy).toFixed(2)} |`);
    console.log(
      `| of which changed pages (increments and WAL segments) | ${mib(changedBytes)} | ${(changedBytes / fullCopy).toFixed(2)} |`,
    );
    console.log(
      `| a full copy per compaction point over one retention period (persistd 0.1) | ${mib(pointsPerRetention * fullCopy)} | ${pointsPerRetention} |`,
    );
    console.log(
      `stored - changed pages = ${((stored - changedBytes) / fullCopy).toFixed(2)} full copies (target: at most 3); latest state restored with ${restoredRows === rows ? 'every row' : `${restoredRows} of ${rows} rows`}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
