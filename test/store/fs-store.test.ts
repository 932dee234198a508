import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/store/fs-store.js';
import { PermanentStoreError } from '../../src/store/store-errors.js';
import { runStoreContract } from './contract.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

runStoreContract('FsStore', async () => {
  const root = await mkdtemp(join(tmpdir(), 'persistd-fs-store-'));
  roots.push(root);
  return new FsStore(root);
});

describe('FsStore specifics', () => {
  let root: string;
  let store: FsStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'persistd-fs-only-'));
    roots.push(root);
    store = new FsStore(root);
  });

  it('refuses keys that escape the root or collide with its bookkeeping', async () => {
    const bad = [
      '',
      '../x',
      'a/../b',
      'a/./b',
      '/abs',
      'a\\b',
      'a\0b',
      'a//b',
      'a/',
      '.persistd-meta/x',
      '.persistd-lock',
      'x/.persistd~tmp~1',
    ];
    for (const key of bad) {
      await expect(store.put(key, 'x'), key).rejects.toBeInstanceOf(PermanentStoreError);
      await expect(store.head(key), key).rejects.toBeInstanceOf(PermanentStoreError);
    }
    await store.put('sub/.persistd-meta/ok', 'allowed below the top level');
    expect(await keysOf(store.list(''))).toEqual(['sub/.persistd-meta/ok']);
  });

  it('keeps plain files under the root and never lists its sidecars, lock or temp files', async () => {
    await store.put('db/app/snap.json', '{"v":1}', { metadata: { sha256: 'x' } });
    expect(await readFile(join(root, 'db/app/snap.json'), 'utf8')).toBe('{"v":1}');
    expect((await readdir(root)).sort()).toEqual(['.persistd-meta', 'db']);
    expect(await keysOf(store.list(''))).toEqual(['db/app/snap.json']);
  });

  it('answers for files it did not write (no sidecar, or a stale one) by hashing them', async () => {
    await mkdir(join(root, 'copied'), { recursive: true });
    await writeFile(join(root, 'copied/by-hand.txt'), 'abc');
    const md5 = createHash('md5').update('abc').digest('hex');
    expect(await store.head('copied/by-hand.txt')).toMatchObject({ size: 3, etag: md5, metadata: {} });
    await store.put('replaced', 'old', { metadata: { a: '1' } });
    await writeFile(join(root, 'replaced'), 'new content');
    const info = await store.head('replaced');
    expect(info).toMatchObject({ size: 11, etag: createHash('md5').update('new content').digest('hex') });
    const listed = [];
    for await (const entry of store.list('')) listed.push(entry);
    expect(listed.map((entry) => [entry.key, entry.etag])).toEqual([
      ['copied/by-hand.txt', md5],
      ['replaced', info!.etag],
    ]);
  });

  it('prunes directories emptied by a delete, in the data and the metadata tree', async () => {
    await store.put('a/b/c/one', '1');
    await store.put('a/keep', 'k');
    await store.delete(['a/b/c/one']);
    expect(await readdir(join(root, 'a'))).toEqual(['keep']);
    expect(await readdir(join(root, '.persistd-meta', 'a'))).toEqual(['keep']);
    await store.delete(['a/keep']);
    expect(await readdir(root)).toEqual(['.persistd-meta']);
  });

  it('leaves no temp file behind when a stream body fails midway', async () => {
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(1000));
    setImmediate(() => failing.destroy(new Error('source broke')));
    await expect(store.put('dir/broken', failing)).rejects.toThrow('source broke');
    expect(await store.head('dir/broken')).toBeUndefined();
    expect(await readdir(join(root, 'dir'))).toEqual([]);
  });

  it('reports a missing root as a PermanentStoreError with a hint', async () => {
    const missing = new FsStore(join(root, 'not-mounted'));
    for (const attempt of [
      () => missing.put('k', 'v'),
      () => missing.head('k'),
      () => missing.get('k'),
      () => keysOf(missing.list('')),
      () => missing.delete(['k']),
    ]) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PermanentStoreError);
      expect((err as PermanentStoreError).message).toContain('does not exist');
      expect((err as PermanentStoreError).hint).toMatch(/create the directory|mount/);
    }
  });

  it('says so when a key is used both as an object and as a directory', async () => {
    await store.put('a/b', 'x');
    const err = await store.put('a', 'y').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PermanentStoreError);
    expect((err as PermanentStoreError).hint).toMatch(/cannot hold both/);
    expect(await store.head('a')).toBeUndefined();
    await store.delete(['a']);
    expect(await keysOf(store.list(''))).toEqual(['a/b']);
  });

  it('makes conditional writes atomic across store instances sharing the directory', async () => {
    const other = new FsStore(root);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? store : other).put('current.json', `writer ${i}`, { ifNoneMatch: '*' })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const head = await other.head('current.json');
    const base = head!.etag;
    const swaps = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? store : other).put('current.json', `swap ${i}`, { ifMatch: base })),
    );
    expect(swaps.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('breaks a lock file left behind by a crashed process once it is stale', async () => {
    await writeFile(join(root, '.persistd-lock'), '999999 crashed');
    const old = new Date(Date.now() - 60_000);
    await utimes(join(root, '.persistd-lock'), old, old);
    const started = Date.now();
    await store.put('after-crash', 'ok');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await keysOf(store.list(''))).toEqual(['after-crash']);
  });

  it('refuses a permission problem as a PermanentStoreError', async () => {
    if (process.getuid?.() === 0) return; // root ignores file modes
    await chmod(root, 0o500);
    try {
      await expect(store.put('k', 'v')).rejects.toBeInstanceOf(PermanentStoreError);
    } finally {
      await chmod(root, 0o700);
    }
  });

  it('parses file:// URLs', () => {
    expect(FsStore.fromUrl(pathToFileURL(root).href).root).toBe(root);
    expect(() => FsStore.fromUrl('s3://bucket/x')).toThrow(/file:\/\//);
  });
});

async function keysOf(iterable: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of iterable) keys.push(info.key);
  return keys;
}
