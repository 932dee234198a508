// persistd killed with SIGKILL in the middle of a snapshot upload or a restore (issue 3, "bad input and
// faults"): the real CLI runs through a fault proxy that stalls one request, the test waits until that
// request is stalled (a condition, not a sleep), kills the process, and checks what is left: the replica
// still restores the previous snapshot, the local target is untouched, and the next run cleans the temp
// files up and succeeds.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { S3Store } from '../../src/store/s3-store.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy/fault-proxy.js';
import type { FaultRule } from '../support/fault-proxy/fault-rules.js';
import { PERSISTD_BIN, runPersistd, type PersistdResult } from '../support/run-persistd.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';
import { createDatabase, makeScratch, type Scratch } from './sqlite-fixtures.js';
import { pollUntil } from '../support/poll.js';

/** Rows of 200 random bytes: about 4 MiB that gzip cannot shrink, so the upload is several MiB too. */
const ROWS = 16_000;

let proxy: FaultProxy;
const scratches: Scratch[] = [];
const stores: S3Store[] = [];

beforeAll(async () => {
  proxy = await startFaultProxy({ target: testS3().endpoint });
});
afterAll(async () => {
  await proxy.stop();
  for (const store of stores) store.destroy();
  for (const s of scratches) await s.cleanup();
});

/** A bucket, a scratch dir with a database of ROWS rows, and the CLI arguments for both. */
async function setUp(
  label: string,
  journalMode = 'wal',
): Promise<{ s: Scratch; bucket: string; db: string; args: (endpoint: string) => string[] }> {
  const s = await makeScratch(label);
  scratches.push(s);
  const bucket = await createTestBucket(label);
  const db = join(s.dataDir, 'app.db');
  createDatabase(db, ROWS, journalMode);
  const args = (endpoint: string): string[] => [
    '--to',
    `s3://${bucket}/replica`,
    '--endpoint',
    endpoint,
    '--db',
    `app=${db}`,
    '--state-dir',
    s.stateDir,
  ];
  return { s, bucket, db, args };
}

function env(): NodeJS.ProcessEnv {
  const s3 = testS3();
  return {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    PERSISTD_LOG_LEVEL: 'warn',
  };
}

function storeOf(bucket: string): S3Store {
  const s3 = testS3();
  const store = new S3Store({
    bucket,
    prefix: 'replica/',
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  stores.push(store);
  return store;
}

async function cli(args: string[]): Promise<PersistdResult> {
  const result = await runPersistd(args, { env: env() });
  if (result.code !== 0) throw new Error(`persistd ${args[0]} exited with ${result.code}: ${result.stderr}`);
  return result;
}

/**
 * Starts the CLI, waits until `stalled()` holds (checked every 20 ms, up to 20 s), SIGKILLs it and
 * waits for it to be gone. Fails if the process ends by itself first.
 */
async function killWhen(args: string[], stalled: () => Promise<boolean>): Promise<void> {
  const child = spawn(process.execPath, [PERSISTD_BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env() },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let ended: number | null | undefined;
  void exited.then((code) => (ended = code));
  try {
    await pollUntil(
      `persistd ${args[0]} to reach the stalled request`,
      async () => {
        if (ended !== undefined) throw new Error(`persistd ${args[0]} ended (code ${ended}) before the stall: ${stderr}`);
        return (await stalled()) || undefined;
      },
      { detail: () => stderr },
    );
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Whether the proxy has stalled a request whose key matches. */
const proxyStalled = (key: RegExp) => async (): Promise<boolean> =>
  proxy.stats().log.some((entry) => entry.what.startsWith('hang') && key.test(entry.key));

async function filesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

function rowsOf(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT n FROM meta WHERE k = 'n'").pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Restores the replica's latest snapshot to a fresh path and returns its row count. */
async function latestRows(s: Scratch, bucket: string, label: string): Promise<number> {
  const output = join(s.dir, `check-${label}.db`);
  await restoreDatabase({ store: storeOf(bucket), name: 'app', target: output, stateDir: join(s.dir, 'check-state') });
  return rowsOf(output);
}

describe('SIGKILL during a snapshot upload', () => {
  const cases: [string, FaultRule, RegExp][] = [
    [
      'the data object upload',
      { fault: { kind: 'hang', when: 'before-response' }, operations: ['put-object', 'upload-part'], key: /\.db\.(gz|zst)$/, limit: 1 },
      /\.db\.(gz|zst)$/,
    ],
    [
      'the manifest upload (data object already stored)',
      { fault: { kind: 'hang', when: 'before-response' }, operations: ['put-object'], key: /\/snap\/[^/]+\.json$/, limit: 1 },
      /\/snap\/[^/]+\.json$/,
    ],
  ];

  it.each(cases)(
    'stalled in %s: the replica still restores the previous snapshot, and the next backup cleans up and succeeds',
    async (label, rule, key) => {
      // A rollback-journal database: its snapshot is copied into the state directory first (a WAL one is read in place).
      const { s, bucket, db, args } = await setUp(`crash-snap-${label.split(' ')[1]}`, 'delete');
      await cli(['backup', ...args(testS3().endpoint)]);
      createDatabase(db, 500, 'delete'); // rows ROWS+1 .. ROWS+500, not yet in any snapshot

      proxy.setRules([rule]);
      const tmp = join(s.stateDir, 'tmp');
      await killWhen(
        ['backup', ...args(proxy.endpoint)],
        async () => (await proxyStalled(key)()) && (await filesIn(tmp)).some((f) => f.startsWith('sqlite-snap-')),
      );
      proxy.setRules([]);

      // The crash left its uncompressed copy behind, and committed nothing.
      expect((await filesIn(tmp)).filter((f) => f.startsWith('sqlite-snap-')).length).toBeGreaterThan(0);
      const store = storeOf(bucket);
      const keys: string[] = [];
      for await (const info of store.list('db/app/gen/')) keys.push(info.key);
      expect(keys.filter((k) => k.endsWith('.json'))).toHaveLength(1);
      if (label.includes('manifest')) expect(keys.filter((k) => /\.db\.(gz|zst)$/.test(k))).toHaveLength(2); // the orphan is there, and ignored
      expect(await latestRows(s, bucket, 'after-crash')).toBe(ROWS);

      // The next run removes the dead process's copy and stores the new rows.
      await cli(['backup', ...args(testS3().endpoint)]);
      expect(await filesIn(tmp)).toEqual([]);
      expect(await latestRows(s, bucket, 'after-next')).toBe(ROWS + 500);
    },
    60_000,
  );
});

describe('SIGKILL during a restore', () => {
  let fixture: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    fixture = await setUp('crash-restore');
    await cli(['backup', ...fixture.args(testS3().endpoint)]);
  }, 60_000);

  const stallDownload: FaultRule = {
    fault: { kind: 'hang', when: 'mid-body' },
    operations: ['get-object'],
    key: /\.db\.(gz|zst)$/,
    limit: 1,
  };

  it.each([
    ['absent', false],
    ['an older database (--force)', true],
  ] as const)(
    'with the target %s: the target is as it was, and the next restore removes the half download',
    async (_label, existing) => {
      const { s, args } = fixture;
      const targetDir = join(s.dir, `restore-${existing ? 'existing' : 'absent'}`);
      const target = join(targetDir, 'app.db');
      let before: Buffer | undefined;
      if (existing) {
        await mkdir(targetDir);
        createDatabase(target, 10);
        before = await readFile(target);
      }
      const restoreArgs = (endpoint: string, force: boolean): string[] => [
        'restore',
        ...args(endpoint),
        '-o',
        target,
        ...(force ? ['--force'] : []),
      ];
      const halfFiles = async (): Promise<string[]> => (await filesIn(targetDir)).filter((f) => f.startsWith('.app.db.persistd-restore-'));

      proxy.setRules([stallDownload]);
      await killWhen(restoreArgs(proxy.endpoint, existing), async () => {
        // Stalled mid-body with the temp file created (a chunked restore writes a chunk only once it is whole).
        return (await proxyStalled(/\.db\.(gz|zst)$/)()) && (await halfFiles()).length > 0;
      });
      proxy.setRules([]);

      // The half download sits beside the target under its temp name; the target itself is as it was.
      expect((await halfFiles()).length).toBeGreaterThan(0);
      if (before) expect((await readFile(target)).equals(before)).toBe(true);
      else await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
      expect(before === undefined || rowsOf(target) === 10).toBe(true);

      await cli(restoreArgs(testS3().endpoint, existing));
      expect(await halfFiles()).toEqual([]);
      expect(rowsOf(target)).toBe(ROWS);
    },
    60_000,
  );
});
