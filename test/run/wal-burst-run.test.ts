import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';
import { startPersistd } from './persistd-process.js';
import { pollUntil } from '../support/poll.js';

const BANK_APP = fileURLToPath(new URL('./fixtures/bank-app.py', import.meta.url));
const ACCOUNTS = 600;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** seq and every balance of a bank database, and whether the balances still sum to what the app started with. */
function bankState(file: string): { seq: number; sum: number; balances: string; integrity: string } {
  const db = new Database(file, { readonly: true });
  try {
    const balances = db.prepare('SELECT id, bal FROM acct ORDER BY id').all() as { id: number; bal: number }[];
    return {
      seq: db.prepare("SELECT seq FROM meta WHERE k = 'seq'").pluck().get() as number,
      sum: balances.reduce((total, row) => total + row.bal, 0),
      balances: balances.map((row) => row.bal).join(','),
      integrity: db.pragma('integrity_check', { simple: true }) as string,
    };
  } finally {
    db.close();
  }
}

type Target = { label: string; to: (dir: string) => Promise<string>; env: () => NodeJS.ProcessEnv };
const targets: Target[] = [
  { label: 'file://', to: async (dir) => `file://${path.join(dir, 'replica')}`, env: () => ({}) },
  {
    label: 's3',
    to: async () => `s3://${await createTestBucket('wal-burst-run')}/app`,
    env: () => {
      const s3 = testS3();
      return {
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_REGION: s3.region,
        PERSISTD_S3_ENDPOINT: s3.endpoint,
      };
    },
  },
];

describe.each(targets)('persistd run under a write burst with large pages ($label)', (target) => {
  it(
    "a persistd stopped (SIGSTOP) mid-burst ships every frame: the restore is the app's final state, every balance",
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'persistd-burst-'));
      dirs.push(dir);
      mkdirSync(path.join(dir, 'data'));
      const db = path.join(dir, 'data', 'bank.db');
      const to = await target.to(dir);
      const env = { ...target.env(), PERSISTD_LOG_LEVEL: 'info' };
      // The app commits about 50 MB/s of WAL (16 KiB pages, ~10 KB rows) until told to calm down.
      const run = startPersistd(
        [
          'run',
          '--to',
          to,
          '--db',
          db,
          '--state-dir',
          path.join(dir, 'state'),
          '--shutdown-timeout',
          '120s',
          '--',
          'python3',
          BANK_APP,
          db,
          '16384',
          String(ACCOUNTS),
          '7',
        ],
        env,
      );
      await run.until(
        () => run.stderr().includes('took the lineage pointer') && run.stdout().includes('ready'),
        'the first snapshot',
        60_000,
      );
      const walBytes = (): number => {
        try {
          return statSync(`${db}-wal`).size;
        } catch {
          return 0;
        }
      };
      // Stall persistd while the app keeps writing: far more than one read (16 MiB) piles up in the WAL...
      run.child.kill('SIGSTOP');
      const stalledAt = walBytes();
      await pollUntil('the app to write 48 MiB of WAL while persistd is stopped', () => walBytes() > stalledAt + (48 << 20), 60_000);
      run.child.kill('SIGCONT');
      // ...and the app goes on at that rate while persistd catches up (its checkpoints let SQLite restart the WAL).
      const resumed = Date.now();
      await pollUntil('the app to write on after the stall', () => Date.now() - resumed > 2500, 30_000);
      writeFileSync(`${db}.calm`, '');
      await run.until(() => run.stdout().includes('calm'), 'the app to calm down');
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.stderr()).not.toContain('INCOMPLETE');
      const local = bankState(db);
      expect(local.sum).toBe(ACCOUNTS * 1000);
      expect(local.seq).toBeGreaterThan(1000);

      const restoredDir = path.join(dir, 'restored');
      mkdirSync(restoredDir);
      const restored = path.join(restoredDir, 'bank.db');
      const result = await runPersistd(['restore', '--to', to, '--db', restored], { env });
      expect(result.code, result.stderr).toBe(0);
      const state = bankState(restored);
      expect(state.integrity).toBe('ok');
      expect(state.sum).toBe(ACCOUNTS * 1000);
      expect(state.seq).toBe(local.seq);
      expect(state.balances).toBe(local.balances);
    },
  );
});
