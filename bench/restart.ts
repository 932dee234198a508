/**
 * Restart benchmark: `npm run bench:restart -- [--size 96]` (MiB). What a restart on a fresh container
 * costs and risks: a database of incompressible rows is replicated by one `persistd run`, then a new
 * container restores it and runs the same app (one commit every 20 ms, each row holding its commit
 * time); prints the bytes the restart stored next to one full snapshot, the time from launch to the
 * lineage pointer and to the app's start, and, after SIGKILL of persistd and the app 4 s after the
 * app's first commit, the age of the oldest commit the restore lacks. Runs against a throwaway Ceph
 * RGW (or PERSISTD_TEST_S3_ENDPOINT); needs `npm run build` (the script runs it).
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { runPersistd } from '../test/support/run-persistd.js';
import { logLines, startPersistd } from '../test/run/persistd-process.js';
import { startBenchS3, type BenchS3 } from './support/bench-s3.js';

const JOURNAL_APP = fileURLToPath(new URL('../test/run/fixtures/journal-app.mjs', import.meta.url));
const sizeArg = process.argv.indexOf('--size');
const sizeMiB = sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : 96;

async function bucketBytes(s3: BenchS3, prefix: string, suffix = ''): Promise<number> {
  let total = 0;
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) if (object.Key?.endsWith(suffix)) total += object.Size ?? 0;
    token = page.NextContinuationToken;
  } while (token);
  return total;
}

function journal(file: string): { id: number; at: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT id, at FROM journal ORDER BY id').all() as { id: number; at: number }[];
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'persistd-bench-restart-'));
  const s3 = await startBenchS3({ bucket: `bench-restart-${Date.now().toString(36)}` });
  try {
    const to = `s3://${s3.bucket}/app`;
    const env = {
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      AWS_REGION: s3.region,
      PERSISTD_S3_ENDPOINT: s3.endpoint,
      PERSISTD_LOG_LEVEL: 'info',
    };
    const container = (name: string) => {
      mkdirSync(path.join(dir, name, 'data'), { recursive: true });
      return { db: path.join(dir, name, 'data', 'app.db'), state: path.join(dir, name, 'state') };
    };
    const run = (c: { db: string; state: string }) =>
      startPersistd(['run', '--to', to, '--db', c.db, '--state-dir', c.state, '--', process.execPath, JOURNAL_APP, c.db], env);

    const one = container('one');
    const seed = new Database(one.db);
    seed.pragma('journal_mode = WAL');
    seed.exec('CREATE TABLE blobs (b BLOB); CREATE TABLE journal (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)');
    const insert = seed.prepare('INSERT INTO blobs VALUES (randomblob(65536))');
    seed.transaction(() => {
      for (let i = 0; i < sizeMiB * 16; i++) insert.run();
    })();
    seed.pragma('wal_checkpoint(TRUNCATE)');
    seed.close();
    const first = run(one);
    await first.until(
      () => first.stderr().includes('took the lineage pointer') && first.stdout().includes('journal ready'),
      'the first run',
      600_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    first.child.kill('SIGTERM');
    await first.exited;
    const fullSnapshot = await bucketBytes(s3, 'app/db/', '.db.gz');
    const before = await bucketBytes(s3, 'app/');

    const two = container('two');
    const launchedAt = Date.now();
    const second = run(two);
    await second.until(() => /journal ready (\d+)/.test(second.stdout()), 'the restarted app', 600_000);
    const appUpAt = Date.now();
    const logs = logLines(second.stderr());
    const timeOf = (msg: string): number | undefined => {
      const line = logs.find((l) => l.msg === msg);
      const time = line?.['time'];
      return typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : undefined;
    };
    const pointerAt = (): number | undefined => {
      const line = logLines(second.stderr()).find((l) => l.msg === 'took the lineage pointer');
      return typeof line?.['time'] === 'string' ? Date.parse(line['time']) : undefined;
    };
    const continued = logs.find((l) => l.msg === 'new generation started')?.['continues'] !== undefined;
    const restartBytes = (await bucketBytes(s3, 'app/')) - before;
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const restartBytesAtKill = (await bucketBytes(s3, 'app/')) - before;
    const killAt = Date.now();
    process.kill(Number(/journal ready (\d+)/.exec(second.stdout())![1]), 'SIGKILL');
    second.child.kill('SIGKILL');
    await second.exited;
    const committed = journal(two.db);
    mkdirSync(path.join(dir, 'restored'));
    const restored = path.join(dir, 'restored', 'app.db');
    const result = await runPersistd(['restore', '--to', to, '--db', restored], { env });
    if (result.code !== 0) throw new Error(`restore failed: ${result.stderr}`);
    const rows = journal(restored).length;
    const lost = committed.slice(rows);
    const oldestLostAge = lost.length > 0 ? killAt - lost[0]!.at : 0;

    console.log(`\nRestart on a fresh container, ${sizeMiB} MiB database of incompressible rows (S3: ${s3.endpoint})`);
    console.log('| figure | persistd |');
    console.log('|---|---|');
    console.log(`| one full snapshot stored | ${(fullSnapshot / 2 ** 20).toFixed(1)} MiB |`);
    console.log(
      `| stored by the restart (before the app's first commit) | ${(restartBytes / 1024).toFixed(1)} KiB (${((100 * restartBytes) / fullSnapshot).toFixed(3)}% of a full snapshot; continuation: ${continued ? 'yes' : 'NO'}) |`,
    );
    const appStartedAt = timeOf('app started');
    const pointer = pointerAt();
    console.log(
      `| stored by the restart up to the kill (4 s of commits) | ${(restartBytesAtKill / 2 ** 20).toFixed(2)} MiB (${((100 * restartBytesAtKill) / fullSnapshot).toFixed(1)}%) |`,
    );
    console.log(
      `| launch -> lineage pointer | ${pointer !== undefined ? `${pointer - launchedAt} ms` : 'not taken before the kill'} (app started at ${appStartedAt !== undefined ? `${appStartedAt - launchedAt} ms` : '?'}) |`,
    );
    console.log(`| launch -> app running | ${appUpAt - launchedAt} ms |`);
    console.log(
      `| commits lost at SIGKILL 4 s after the app started | ${lost.length} of ${committed.length}; oldest lost was ${oldestLostAge} ms old (bound: sync interval + 1 s = 2000 ms) |`,
    );
  } finally {
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
