// A full local disk (issue 3, "bad input and faults"): a restore whose target is on a disk too small
// for the database, and a snapshot whose temporary copy (in the state directory) does not fit. Both
// run the real CLI against a 2 MiB tmpfs; mounting needs root, so without it the tests are skipped
// and say why.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureReplicaMarker } from '../../src/format/replica-marker.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import { S3Store } from '../../src/store/s3-store.js';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';
import { createDatabase, makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';

/** Rows of 200 random bytes: a database of about 4 MiB, twice the small disk. */
const ROWS = 16_000;

/** Mounts a 2 MiB tmpfs on a new directory and returns it; throws when that is impossible (not root, no mount permission). */
async function mountSmallDisk(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'persistd-small-disk-'));
  try {
    if (process.getuid?.() !== 0) throw new Error('mounting a small tmpfs needs root');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
    return dir;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(stderr ? `mount -t tmpfs failed: ${stderr}` : (err as Error).message);
  }
}

async function unmount(dir: string): Promise<void> {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
  await rm(dir, { recursive: true, force: true });
}

/** Whether this machine lets us mount one (tried once, at collection, and unmounted at once); the reason when not. */
const skip = await mountSmallDisk().then(
  async (dir) => void (await unmount(dir)),
  (err: Error) => err.message,
);

describe.skipIf(skip !== undefined)(`a full local disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let small = '';
  let s: Scratch;
  let store: S3Store;
  let bucket: string;
  const env = (): NodeJS.ProcessEnv => {
    const s3 = testS3();
    return {
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      PERSISTD_LOG_LEVEL: 'warn',
    };
  };
  const replicaArgs = (): string[] => ['--to', `s3://${bucket}/replica`, '--endpoint', testS3().endpoint];

  beforeAll(async () => {
    small = await mountSmallDisk();
    s = await makeScratch('disk-full');
    bucket = await createTestBucket('disk-full');
    const s3 = testS3();
    store = new S3Store({
      bucket,
      prefix: 'replica/',
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
  });
  afterAll(async () => {
    store?.destroy();
    await s?.cleanup();
    if (small) await unmount(small);
  });

  it('restore onto a disk too small for the database: ENOSPC named with a hint, exit 1, the old file untouched, no temp file left', async () => {
    const source = join(s.dataDir, 'big.db');
    createDatabase(source, ROWS);
    await ensureReplicaMarker(store);
    expect((await snapshotDatabase({ store, name: 'app', path: source, stateDir: s.stateDir })).outcome).toBe('created');

    const targetDir = join(small, 'data');
    await mkdir(targetDir);
    const target = join(targetDir, 'app.db');
    createDatabase(target, 10);
    const before = await readFile(target);
    const listing = await readdir(targetDir);

    const result = await runPersistd(
      ['restore', ...replicaArgs(), '--db', `app=${target}`, '--state-dir', join(s.dir, 'restore-state'), '--force'],
      { env: env() },
    );
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/ENOSPC/);
    expect(result.stderr).toMatch(/hint: .*disk is full.*free space/);
    expect(await readdir(targetDir)).toEqual(listing);
    expect((await readFile(target)).equals(before)).toBe(true);
    expect(readRows(target)).toMatchObject({ count: 10, integrity: 'ok' });
  }, 60_000);

  it('snapshot whose temporary copy does not fit in the state directory: ENOSPC named with a hint, exit 1, nothing in the replica', async () => {
    // A rollback-journal database is copied into the state directory before its upload.
    const source = join(s.dataDir, 'other.db');
    createDatabase(source, ROWS, 'delete');
    const stateDir = join(small, 'state');

    const result = await runPersistd(['backup', ...replicaArgs(), '--db', `other=${source}`, '--state-dir', stateDir], { env: env() });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/ENOSPC/);
    expect(result.stderr).toMatch(/hint: .*--state-dir/);
    const keys: string[] = [];
    for await (const info of store.list('db/other/')) keys.push(info.key);
    expect(keys).toEqual([]);
    expect(await readdir(join(stateDir, 'tmp'))).toEqual([]);
  }, 60_000);

  it('a WAL database is read in place: its snapshot needs no room in the full state directory', async () => {
    const source = join(s.dataDir, 'wal.db');
    createDatabase(source, ROWS);
    const stateDir = join(small, 'state-wal');
    const result = await runPersistd(['backup', ...replicaArgs(), '--db', `wal=${source}`, '--state-dir', stateDir], { env: env() });
    expect(result.code, result.stderr).toBe(0);
    const keys: string[] = [];
    for await (const info of store.list('db/wal/')) keys.push(info.key);
    expect(keys.filter((k) => k.endsWith('.db.zst'))).toHaveLength(1);
  }, 60_000);
});
