import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, rawS3Client, testS3 } from '../support/test-s3.js';
import { logLines, startPersistd } from './persistd-process.js';

const JOURNAL_APP = fileURLToPath(new URL('./fixtures/journal-app.mjs', import.meta.url));
const SEED_BYTES = 24 << 20;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A database of incompressible rows, in WAL mode, as an app left it. */
function seedDatabase(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE blobs (b BLOB); CREATE TABLE journal (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)');
  const insert = db.prepare('INSERT INTO blobs VALUES (randomblob(?))');
  db.transaction(() => {
    for (let i = 0; i < SEED_BYTES / 65536; i++) insert.run(65536);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function journal(file: string): { id: number; at: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT id, at FROM journal ORDER BY id').all() as { id: number; at: number }[];
  } finally {
    db.close();
  }
}

type Target = { label: string; to: (dir: string) => Promise<string>; env: () => NodeJS.ProcessEnv; bytes: (to: string) => Promise<number> };
const targets: Target[] = [
  {
    label: 'file://',
    to: async (dir) => `file://${path.join(dir, 'replica')}`,
    env: () => ({}),
    bytes: async (to) => {
      let total = 0;
      const walk = (dir: string): void => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          const full = path.join(dir, entry.name);
          if (entry.isDirectory()) walk(full);
          else total += statSync(full).size;
        }
      };
      walk(to.slice('file://'.length));
      return total;
    },
  },
  {
    label: 's3',
    to: async () => `s3://${await createTestBucket('restart-cont')}/app`,
    env: () => {
      const s3 = testS3();
      return {
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_REGION: s3.region,
        PERSISTD_S3_ENDPOINT: s3.endpoint,
      };
    },
    bytes: async (to) => {
      const [bucket, prefix] = to.slice('s3://'.length).split('/') as [string, string];
      const client = rawS3Client();
      let total = 0;
      try {
        let token: string | undefined;
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
          for (const object of page.Contents ?? []) total += object.Size ?? 0;
          token = page.NextContinuationToken;
        } while (token);
      } finally {
        client.destroy();
      }
      return total;
    },
  },
];

describe.each(targets)('persistd run after a restart continues the restored generation ($label)', (target) => {
  it(
    'uploads almost nothing, protects the app from its first commit, and a kill 4 s later loses nothing older than a sync interval + 1 s',
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'persistd-restart-'));
      dirs.push(dir);
      const to = await target.to(dir);
      const env = { ...target.env(), PERSISTD_LOG_LEVEL: 'info' };
      const container = (name: string) => {
        const root = path.join(dir, name);
        mkdirSync(path.join(root, 'data'), { recursive: true });
        return { db: path.join(root, 'data', 'app.db'), state: path.join(root, 'state') };
      };
      const run = (c: { db: string; state: string }) =>
        startPersistd(['run', '--to', to, '--db', c.db, '--state-dir', c.state, '--', process.execPath, JOURNAL_APP, c.db], env);

      // First container: a 24 MiB database of incompressible rows, a few seconds of commits, a clean stop.
      const one = container('one');
      seedDatabase(one.db);
      const first = run(one);
      await first.until(
        () => first.stderr().includes('took the lineage pointer') && first.stdout().includes('journal ready'),
        'the first run to replicate',
        60_000,
      );
      await first.until(() => journal(one.db).length > 20, 'some commits');
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      const stored = await target.bytes(to);

      // A fresh container: restore, then continue.
      const two = container('two');
      const second = run(two);
      await second.until(() => /journal ready (\d+)/.test(second.stdout()), 'the app on the restored database', 60_000);
      const logs = logLines(second.stderr());
      const started = logs.find((l) => l.msg === 'new generation started');
      expect(started?.['continues'], second.stderr()).toBeDefined();
      const pointerAt = logs.findIndex((l) => l.msg === 'took the lineage pointer');
      const appAt = logs.findIndex((l) => l.msg === 'app started');
      expect(pointerAt).toBeGreaterThanOrEqual(0);
      expect(pointerAt).toBeLessThan(appAt);
      // The restart stored a manifest and a pointer, not the database again.
      const restartBytes = (await target.bytes(to)) - stored;
      expect(restartBytes).toBeLessThan(SEED_BYTES * 0.02);

      const appPid = Number(/journal ready (\d+)/.exec(second.stdout())![1]);
      const appStartedAt = Date.now();
      await second.until(() => Date.now() - appStartedAt > 4000, '4 s of commits');
      const killAt = Date.now();
      process.kill(appPid, 'SIGKILL');
      second.child.kill('SIGKILL');
      await second.exited;
      const committed = journal(two.db);
      expect(committed.length).toBeGreaterThan(100);

      const restoredDir = path.join(dir, 'restored');
      mkdirSync(restoredDir);
      const restored = path.join(restoredDir, 'app.db');
      const result = await runPersistd(['restore', '--to', to, '--db', restored], { env });
      expect(result.code, result.stderr).toBe(0);
      const rows = journal(restored);
      // A gap-free prefix of what the app committed...
      expect(rows.map((r) => r.id)).toEqual(committed.slice(0, rows.length).map((r) => r.id));
      // ...that holds every commit older than a sync interval (1 s) + 1 s at the kill, including the first run's.
      const mustHave = committed.filter((r) => r.at <= killAt - 2000);
      expect(mustHave.length).toBeGreaterThan(journal(one.db).length);
      expect(rows.length).toBeGreaterThanOrEqual(mustHave.length);

      // `persistd snapshots` says what the second generation's first restore point stores and depends on.
      const listed = await runPersistd(['snapshots', '--to', to], { env });
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(/nothing: continues \d{8}T\d{9}Z-[0-9a-f]{8}\/\d{8}T\d{9}Z/);
    },
  );

  it(
    'a restart that kept its disk continues the generation it stopped in, without storing the database again',
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'persistd-kept-disk-'));
      dirs.push(dir);
      const to = await target.to(dir);
      const env = { ...target.env(), PERSISTD_LOG_LEVEL: 'info' };
      mkdirSync(path.join(dir, 'data'));
      const db = path.join(dir, 'data', 'app.db');
      const state = path.join(dir, 'state');
      const run = () => startPersistd(['run', '--to', to, '--db', db, '--state-dir', state, '--', process.execPath, JOURNAL_APP, db], env);
      seedDatabase(db);
      const first = run();
      await first.until(() => first.stdout().includes('journal ready'), 'the first run', 60_000);
      await first.until(() => journal(db).length > 20, 'some commits');
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      const stored = await target.bytes(to);

      // The same container again (a volume, a VPS): the local file is what the clean stop shipped.
      const second = run();
      await second.until(() => second.stdout().includes('journal ready'), 'the app on the kept database', 60_000);
      const logs = logLines(second.stderr());
      expect(
        logs.some((l) => l.msg === 'local database is the replicated state: continuing it without storing it again'),
        second.stderr(),
      ).toBe(true);
      expect(logs.find((l) => l.msg === 'new generation started')?.['continues'], second.stderr()).toBeDefined();
      expect((await target.bytes(to)) - stored).toBeLessThan(SEED_BYTES * 0.02);
      await second.until(() => journal(db).length > 40, 'more commits');
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);

      const restored = path.join(dir, 'restored', 'app.db');
      mkdirSync(path.dirname(restored));
      const result = await runPersistd(['restore', '--to', to, '--db', restored], { env });
      expect(result.code, result.stderr).toBe(0);
      expect(journal(restored)).toEqual(journal(db));
    },
  );
});
