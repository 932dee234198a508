import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChunkedDataInfo, FullSnapshotManifest } from '../../src/format/db-manifest.js';
import { PersistdError } from '../../src/errors.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { AgeStore } from '../../src/store/age-store.js';
import { generateIdentity, parseIdentity } from '../../src/crypto/age-keys.js';
import { ensureReplicaMarker } from '../../src/format/replica-marker.js';
import { proxiedBucket, type ProxiedBucket } from '../faults/fault-fixtures.js';
import { createDatabase, makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';

// About 14 MiB of incompressible rows: four chunks of 4 MiB, so the restore runs on worker threads.
const ROWS = 56_000;

let s: Scratch;
let source: string;
let copy: string;

beforeEach(async () => {
  s = await makeScratch('chunked');
  source = join(s.dataDir, 'app.db');
  copy = join(s.dir, 'copy.db');
  createDatabase(source, ROWS);
  // What the snapshot must restore to, byte for byte: SQLite's own backup of the same state.
  await new Database(source, { readonly: true }).backup(copy);
});
afterEach(() => s.cleanup());

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function snapshot(store: ObjectStore = s.store): Promise<{ manifest: FullSnapshotManifest; manifestKey: string }> {
  const result = await snapshotDatabase({ store, name: 'app', path: source, stateDir: s.stateDir });
  if (result.outcome !== 'created') throw new Error('no snapshot');
  return result;
}

async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => n.includes('persistd'));
}

describe('chunked snapshots (format 2)', () => {
  it('store a chunk index instead of whole-file hashes, and restore byte for byte', async () => {
    const { manifest } = await snapshot();
    const data = manifest.data as ChunkedDataInfo;
    expect(data.chunks.size).toBe(4 << 20);
    expect(data.chunks.compressed).toHaveLength(Math.ceil(manifest.db.size / data.chunks.size));
    expect(data.chunks.compressed.length).toBeGreaterThan(2);
    expect(data.chunks.compressed.reduce((a, b) => a + b, 0)).toBe(data.size);
    expect(data.sha256).toBeUndefined();
    expect(manifest.db.sha256).toBeUndefined();
    const expected = await readFile(copy);
    expect(data.chunks.sha256[1]).toBe(sha256(expected.subarray(data.chunks.size, 2 * data.chunks.size)));
    // The database is read in place: the same bytes as SQLite's backup but for header fields a backup renumbers.
    const body = (bytes: Buffer): string => sha256(bytes.subarray(100));

    const target = join(s.dir, 'target', 'app.db');
    const result = await restoreDatabase({ store: s.store, name: 'app', target });
    expect(result.restored).toBe(true);
    expect(body(await readFile(target))).toBe(body(expected));
    expect(readRows(target)).toEqual({ count: ROWS, max: ROWS, meta: ROWS, integrity: 'ok' });
  });

  it('refuse a flipped byte in one chunk, name the chunk, and leave the local file as it was', async () => {
    const { manifestKey } = await snapshot();
    const target = join(s.dir, 'target', 'app.db');
    await restoreDatabase({ store: s.store, name: 'app', target });
    const before = await readFile(target);
    const dataFile = join(s.dir, 'store', manifestKey.replace(/\.json$/, '.db.zst'));
    const manifest = JSON.parse(await readFile(join(s.dir, 'store', manifestKey), 'utf8')) as FullSnapshotManifest;
    const chunks = (manifest.data as ChunkedDataInfo).chunks;
    const bytes = await readFile(dataFile);
    const inChunk2 = chunks.compressed[0]! + chunks.compressed[1]! + Math.floor(chunks.compressed[2]! / 2);
    bytes[inChunk2] = bytes[inChunk2]! ^ 0xff;
    await writeFile(dataFile, bytes);

    const err = await restoreDatabase({ store: s.store, name: 'app', target, force: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PersistdError);
    expect((err as PersistdError).kind).toBe('integrity');
    expect((err as PersistdError).message).toMatch(/chunk 2 of .*\.db\.zst/);
    expect((err as PersistdError).hint).toMatch(/--snapshot/);
    expect((await readFile(target)).equals(before)).toBe(true);
    expect(await leftovers(join(s.dir, 'target'))).toEqual([]);
  });

  it('refuse a chunk whose bytes do not match the sha256 its index gives', async () => {
    const { manifestKey } = await snapshot();
    const path = join(s.dir, 'store', manifestKey);
    const manifest = JSON.parse(await readFile(path, 'utf8')) as FullSnapshotManifest;
    const chunks = (manifest.data as ChunkedDataInfo).chunks;
    const last = chunks.sha256.length - 1;
    chunks.sha256[last] = 'a'.repeat(64);
    await writeFile(path, JSON.stringify(manifest));
    const target = join(s.dir, 'elsewhere', 'app.db');
    const err = await restoreDatabase({ store: s.store, name: 'app', target }).catch((e: unknown) => e);
    expect((err as PersistdError).kind).toBe('integrity');
    expect((err as PersistdError).message).toMatch(new RegExp(`chunk ${last} .*sha256`));

    expect(await leftovers(join(s.dir, 'elsewhere'))).toEqual([]);
  });

  it('refuse an index that does not add up to the data object', async () => {
    const { manifestKey } = await snapshot();
    const path = join(s.dir, 'store', manifestKey);
    const manifest = JSON.parse(await readFile(path, 'utf8')) as FullSnapshotManifest;
    (manifest.data as ChunkedDataInfo).chunks.compressed[0]! += 1;
    await writeFile(path, JSON.stringify(manifest));
    const err = await restoreDatabase({ store: s.store, name: 'app', target: join(s.dir, 'x', 'app.db') }).catch((e: unknown) => e);
    expect((err as PersistdError).kind).toBe('integrity');
    expect((err as PersistdError).message).toMatch(/data\.chunks/);
  });

  it('restore byte for byte through age encryption, whose ranged reads map onto its own chunks', async () => {
    const identity = parseIdentity(generateIdentity().secret);
    const store = new AgeStore(s.store, { recipients: [identity.recipient], identities: [identity] });
    await ensureReplicaMarker(store);
    const { manifest } = await snapshot(store);
    expect((manifest.data as ChunkedDataInfo).chunks.compressed.length).toBeGreaterThan(2);
    const target = join(s.dir, 'age', 'app.db');
    expect((await restoreDatabase({ store, name: 'app', target })).restored).toBe(true);
    expect(sha256((await readFile(target)).subarray(100))).toBe(sha256((await readFile(copy)).subarray(100)));
    expect(readRows(target)).toEqual({ count: ROWS, max: ROWS, meta: ROWS, integrity: 'ok' });
  });

  it('stop at once when the restore is aborted, leaving nothing behind', async () => {
    await snapshot();
    const controller = new AbortController();
    const target = join(s.dir, 'aborted', 'app.db');
    const restoring = restoreDatabase({ store: s.store, name: 'app', target, signal: controller.signal });
    controller.abort(new Error('stop asked'));
    await expect(restoring).rejects.toThrow();
    expect(await leftovers(join(s.dir, 'aborted'))).toEqual([]);
  });
});

describe('chunked snapshots on S3 through a faulty network', () => {
  let p: ProxiedBucket;
  beforeAll(async () => {
    p = await proxiedBucket('chunked');
  });
  afterAll(async () => p?.close());

  it('resume a ranged read that breaks mid-body and restore byte for byte', async () => {
    const { store } = p.open();
    const { manifest } = await snapshot(store);
    expect((manifest.data as ChunkedDataInfo).chunks.compressed.length).toBeGreaterThan(2);
    p.proxy.setRules([{ fault: { kind: 'reset', when: 'mid-body' }, operations: ['get-object'], key: /\.db\.zst$/, limit: 3 }]);
    const target = join(s.dir, 's3', 'app.db');
    const result = await restoreDatabase({ store, name: 'app', target });
    expect(result.restored).toBe(true);
    expect(Object.values(p.proxy.stats().injected).reduce((a, b) => a + b, 0)).toBe(3);
    expect(sha256((await readFile(target)).subarray(100))).toBe(sha256((await readFile(copy)).subarray(100)));
  });

  it('fail with a storage error, and nothing written, when the object cannot be read', async () => {
    const { store } = p.open();
    await snapshot(store);
    p.proxy.setRules([{ fault: { kind: 'reset', when: 'mid-body' }, operations: ['get-object'], key: /\.db\.zst$/ }]);
    const target = join(s.dir, 's3-down', 'app.db');
    const err = await restoreDatabase({ store, name: 'app', target }).catch((e: unknown) => e);
    p.proxy.setRules([]);
    expect(err).toBeInstanceOf(PersistdError);
    expect((err as PersistdError).kind).toBe('storage');
    expect((err as PersistdError).hint).toBeTruthy();
    expect(await leftovers(join(s.dir, 's3-down'))).toEqual([]);
  });
});
