import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PersistdError } from '../../src/errors.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import { verifySnapshot } from '../../src/sqlite/verify-snapshot.js';
import { createDatabase, makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';

let s: Scratch;
let source: string;
let target: string;
let dataObject: string;
let manifestFile: string;

beforeEach(async () => {
  s = await makeScratch('restore');
  source = join(s.dataDir, 'app.db');
  target = join(s.dir, 'target', 'app.db');
  createDatabase(source, 500);
  const result = await snapshotDatabase({ store: s.store, name: 'app', path: source, stateDir: s.stateDir });
  if (result.outcome !== 'created') throw new Error('no snapshot');
  dataObject = join(s.dir, 'store', result.manifestKey.replace(/\.json$/, '.db.zst'));
  manifestFile = join(s.dir, 'store', result.manifestKey);
});
afterEach(() => s.cleanup());

/** Puts a local database at the target that a failed restore must leave exactly as it was. */
async function existingTarget(): Promise<Buffer> {
  await restoreDatabase({ store: s.store, name: 'app', target, stateDir: s.stateDir });
  await writeFile(`${target}-wal`, 'old wal');
  return readFile(target);
}

async function expectFailure(kind: string, pattern: RegExp): Promise<void> {
  const err = await restoreDatabase({ store: s.store, name: 'app', target, force: true, stateDir: s.stateDir }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PersistdError);
  expect((err as PersistdError).kind).toBe(kind);
  expect((err as PersistdError).message).toMatch(pattern);
  expect((err as PersistdError).hint).toBeTruthy();
}

async function leftovers(): Promise<string[]> {
  return (await readdir(join(s.dir, 'target'))).filter((n) => n.includes('persistd'));
}

describe('restoreDatabase', () => {
  it('restores the newest snapshot, verified, into a new directory', async () => {
    const result = await restoreDatabase({ store: s.store, name: 'app', target, stateDir: s.stateDir });
    expect(result.restored).toBe(true);
    expect(readRows(target)).toEqual({ count: 500, max: 500, meta: 500, integrity: 'ok' });
    expect(await leftovers()).toEqual([]);
  });

  it('refuses to replace an existing database, and --force replaces it and its stale -wal', async () => {
    const before = await existingTarget();
    createDatabase(source, 10);
    await snapshotDatabase({ store: s.store, name: 'app', path: source, stateDir: s.stateDir });
    const err = await restoreDatabase({ store: s.store, name: 'app', target, stateDir: s.stateDir }).catch((e: unknown) => e);
    expect((err as PersistdError).kind).toBe('usage');
    expect((err as PersistdError).message).toMatch(/already exists/);
    expect(await readFile(target)).toEqual(before);
    const forced = await restoreDatabase({ store: s.store, name: 'app', target, force: true, stateDir: s.stateDir });
    expect(forced.restored).toBe(true);
    expect(await readdir(join(s.dir, 'target'))).toEqual(['app.db']);
    expect(readRows(target).max).toBe(510);
  });

  it('--if-not-exists skips without a request; --if-replica-exists succeeds with no backup', async () => {
    await existingTarget();
    // A temp file left by a restore that was killed (its pid is gone) goes; one of a live process stays.
    const dead = join(s.dir, 'target', '.app.db.persistd-restore-999999999-0123456789abcdef.tmp');
    const live = join(s.dir, 'target', `.app.db.persistd-restore-${process.ppid}-0123456789abcdef.tmp`);
    await writeFile(dead, 'half a database');
    await writeFile(live, 'another restore at work');
    const requests = s.store.total();
    expect(await restoreDatabase({ store: s.store, name: 'app', target, ifNotExists: true, stateDir: s.stateDir })).toMatchObject({
      restored: false,
      reason: 'exists',
    });
    expect(s.store.total()).toBe(requests);
    expect((await readdir(join(s.dir, 'target'))).filter((n) => n.includes('persistd-restore'))).toEqual([
      `.app.db.persistd-restore-${process.ppid}-0123456789abcdef.tmp`,
    ]);
    const other = join(s.dir, 'target', 'other.db');
    expect(
      await restoreDatabase({ store: s.store, name: 'other', target: other, ifReplicaExists: true, stateDir: s.stateDir }),
    ).toMatchObject({ restored: false, reason: 'no-backup' });
    const err = await restoreDatabase({ store: s.store, name: 'other', target: other, stateDir: s.stateDir }).catch((e: unknown) => e);
    expect((err as PersistdError).kind).toBe('no-backup');
  });

  it('fails on flipped bytes and leaves the local file untouched', async () => {
    const before = await existingTarget();
    const bytes = await readFile(dataObject);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(dataObject, bytes);
    await expectFailure('integrity', /does not verify/);
    expect(await readFile(target)).toEqual(before);
    expect(await readFile(`${target}-wal`, 'utf8')).toBe('old wal');
    expect(await leftovers()).toEqual([]);
  });

  it('fails on a truncated object', async () => {
    const before = await existingTarget();
    const bytes = await readFile(dataObject);
    await writeFile(dataObject, bytes.subarray(0, bytes.length - 100));
    await expectFailure('integrity', /does not verify/);
    expect(await readFile(target)).toEqual(before);
    expect(await leftovers()).toEqual([]);
  });

  it('fails when the manifest points at a missing object', async () => {
    const before = await existingTarget();
    await rm(dataObject);
    await expectFailure('integrity', /missing/);
    expect(await readFile(target)).toEqual(before);
  });

  it('refuses a manifest of a newer format version (upgrade: usage) and one of an unknown version (integrity)', async () => {
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestFile, JSON.stringify({ ...manifest, format: 99 }));
    await expectFailure('usage', /format version 99, newer than this persistd reads \(2\)/);
    await writeFile(manifestFile, JSON.stringify({ ...manifest, format: 0 }));
    await expectFailure('integrity', /format version 0.*reads versions 1 to 2/);
  });

  it('ignores a data object with no manifest', async () => {
    createDatabase(source, 10);
    const second = await snapshotDatabase({ store: s.store, name: 'app', path: source, stateDir: s.stateDir });
    if (second.outcome !== 'created') throw new Error('no snapshot');
    await rm(join(s.dir, 'store', second.manifestKey));
    await restoreDatabase({ store: s.store, name: 'app', target, stateDir: s.stateDir });
    expect(readRows(target).max).toBe(500);
  });

  it('restores by timestamp: the newest snapshot at or before it', async () => {
    createDatabase(source, 10);
    const second = await snapshotDatabase({ store: s.store, name: 'app', path: source, stateDir: s.stateDir });
    if (second.outcome !== 'created') throw new Error('no snapshot');
    const at = new Date(Date.parse(second.manifest.createdAt) - 1);
    await restoreDatabase({ store: s.store, name: 'app', target, timestamp: at, stateDir: s.stateDir });
    expect(readRows(target).max).toBe(500);
    const early = await restoreDatabase({
      store: s.store,
      name: 'app',
      target,
      timestamp: new Date(0),
      force: true,
      stateDir: s.stateDir,
    }).catch((e: unknown) => e);
    expect((early as PersistdError).kind).toBe('no-backup');
  });
});

describe('verifySnapshot', () => {
  it('reports row counts per table, and fails on a corrupt snapshot', async () => {
    const result = await verifySnapshot({ store: s.store, name: 'app', stateDir: s.stateDir });
    expect(result.tables).toEqual([
      { table: 'meta', rows: 1 },
      { table: 't', rows: 500 },
    ]);
    const bytes = await readFile(dataObject);
    bytes[100]! ^= 0x01;
    await writeFile(dataObject, bytes);
    await expect(verifySnapshot({ store: s.store, name: 'app', stateDir: s.stateDir })).rejects.toMatchObject({ kind: 'integrity' });
    expect(await readdir(join(s.stateDir, 'tmp'))).toEqual([]);
  });
});
