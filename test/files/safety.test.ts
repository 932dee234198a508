import { chmod, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeFileMetadata } from '../../src/format/files-metadata.js';
import { sha256Of } from '../../src/files/hash-file.js';
import { restoreTree, RestoreTreeError } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import { CountingStore, MemoryStore } from './counting-store.js';
import { keysUnder, objectBytes, tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

async function dirsFor(...labels: string[]): Promise<string[]> {
  return Promise.all(labels.map(fresh));
}

async function fillTree(root: string, count: number): Promise<void> {
  await mkdir(join(root, 'nested'), { recursive: true });
  for (let i = 0; i < count; i++) await writeFile(join(root, i % 2 ? 'nested' : '', `f${i}.txt`), `file ${i}\n`);
}

describe('safe deletes', () => {
  it('an empty directory at startup deletes nothing remotely, with or without a surviving index', async () => {
    const [src, bucket, state, empty, freshState] = await dirsFor('src', 'bucket', 'state', 'empty', 'fresh');
    const store = new FsStore(bucket!);
    await fillTree(src!, 12);
    const seed = new TreeSync({ store, name: 't', root: src!, stateDir: state!, rescanIntervalMs: 0 });
    await seed.syncOnce();
    await seed.stop();
    expect(await keysUnder(store, 'files/t/')).toHaveLength(12);

    for (const stateDir of [state!, freshState!]) {
      const sync = new TreeSync({ store, name: 't', root: empty!, stateDir, deleteGraceMs: 0, rescanIntervalMs: 0 });
      await sync.start();
      await sync.syncOnce();
      await sync.flush({ deadline: Date.now() + 2000 });
      await sync.stop();
      expect(sync.status().deletedItems).toBe(0);
      expect(await keysUnder(store, 'files/t/')).toHaveLength(12);
    }
    // A missing directory is created empty, and deletes nothing either.
    const missing = join(empty!, 'does-not-exist');
    const sync = new TreeSync({ store, name: 't', root: missing, stateDir: state!, deleteGraceMs: 0, rescanIntervalMs: 0 });
    await sync.syncOnce();
    await sync.stop();
    expect((await stat(missing)).isDirectory()).toBe(true);
    expect(await keysUnder(store, 'files/t/')).toHaveLength(12);
  });

  it('the mass-delete guard stops an rm -rf and keeps every object', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new FsStore(bucket!);
    await fillTree(src!, 50);
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, deleteGraceMs: 0, keepDeletedMs: 0, rescanIntervalMs: 0 });
    await sync.syncOnce();
    for (const e of await readdir(src!)) await rm(join(src!, e), { recursive: true });
    const status = await sync.syncOnce();
    expect(status.deletesPaused).toBe(true);
    expect(status.deletedItems).toBe(0);
    expect(status.pendingDeletes).toBe(50);
    expect(await keysUnder(store, 'files/t/')).toHaveLength(50);
    await sync.stop();
    // A restart forgets what it saw vanish: still nothing is deleted.
    const restarted = new TreeSync({ store, name: 't', root: src!, stateDir: state!, deleteGraceMs: 0, rescanIntervalMs: 0 });
    await restarted.syncOnce();
    await restarted.stop();
    expect(await keysUnder(store, 'files/t/')).toHaveLength(50);
  });

  it('a few deletes under the cap propagate; with keepDeleted 0 nothing goes to the trash', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new FsStore(bucket!);
    await fillTree(src!, 50);
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, deleteGraceMs: 0, keepDeletedMs: 0, rescanIntervalMs: 0 });
    await sync.syncOnce();
    for (const i of [0, 1, 2]) await rm(join(src!, i % 2 ? 'nested' : '', `f${i}.txt`));
    const status = await sync.syncOnce();
    await sync.stop();
    expect(status.deletedItems).toBe(3);
    expect(await keysUnder(store, 'files/t/')).toHaveLength(47);
  });
});

describe('restore safety', () => {
  it('refuses keys that would escape the tree and never writes them', async () => {
    const [root, state, outside] = await dirsFor('root', 'state', 'outside');
    const store = new MemoryStore();
    const good = Buffer.from('good\n');
    const meta = encodeFileMetadata({ mtimeMs: 1_700_000_000_000, mode: 0o644, sha256: sha256Of(good) });
    const evil = [
      `../${outside!.split('/').pop()}/pwned`,
      '/etc/pwned',
      'a/../../pwned',
      'nul\0byte',
      'back\\slash',
      'a//b',
      '.persistd/state',
    ];
    for (const rel of evil) await store.put(`files/t/${rel}`, good, { metadata: meta });
    await store.put('files/t/ok.txt', good, { metadata: meta });
    const report = await restoreTree({ store, name: 't', root: root!, stateDir: state! });
    expect(report.downloaded).toBe(1);
    expect(report.refused.map((r) => r.key).sort()).toEqual(
      evil
        .filter((e) => !e.startsWith('.persistd'))
        .map((e) => `files/t/${e}`)
        .sort(),
    );
    expect(await readdir(outside!)).toEqual([]);
    expect((await readdir(root!)).sort()).toEqual(['ok.txt']);
  });

  it('a remote object whose sha256 does not match its metadata leaves the local side untouched', async () => {
    const [root, bucket, state] = await dirsFor('root', 'bucket', 'state');
    const store = new FsStore(bucket!);
    const meta = encodeFileMetadata({ mtimeMs: 1_700_000_000_000, mode: 0o644, sha256: sha256Of(Buffer.from('original')) });
    await store.put('files/t/corrupt.txt', 'tampered', { metadata: meta });
    await store.put('files/t/fine.txt', 'original', { metadata: meta });
    const err = await restoreTree({ store, name: 't', root: root!, stateDir: state! }).catch((e: unknown) => e);
    if (!(err instanceof RestoreTreeError)) throw new Error(`expected a RestoreTreeError, got ${String(err)}`);
    expect(err.kind).toBe('integrity');
    const { report } = err;
    expect(report.failed.map((f) => f.path)).toEqual(['corrupt.txt']);
    expect(report.downloaded).toBe(1);
    expect(await readdir(root!)).toEqual(['fine.txt']); // no temp file left behind either
  });

  it('local wins: a different local file is kept, reported, and uploaded by the next sync', async () => {
    const [root, bucket, state] = await dirsFor('root', 'bucket', 'state');
    const store = new FsStore(bucket!);
    const remote = Buffer.from('remote version');
    await store.put('files/t/doc.txt', remote, {
      metadata: encodeFileMetadata({ mtimeMs: 1_600_000_000_000, mode: 0o644, sha256: sha256Of(remote) }),
    });
    await store.put('files/t/same.txt', remote, {
      metadata: encodeFileMetadata({ mtimeMs: 1_600_000_000_000, mode: 0o644, sha256: sha256Of(remote) }),
    });
    await writeFile(join(root!, 'doc.txt'), 'local version, different');
    await writeFile(join(root!, 'same.txt'), remote);
    const report = await restoreTree({ store, name: 't', root: root!, stateDir: state! });
    expect(report.conflicts.map((c) => c.path)).toEqual(['doc.txt']);
    expect(report.skipped).toBe(1);
    expect(await readFile(join(root!, 'doc.txt'), 'utf8')).toBe('local version, different');
    const counting = new CountingStore(store);
    const sync = new TreeSync({ store: counting, name: 't', root: root!, stateDir: state!, rescanIntervalMs: 0 });
    await sync.syncOnce();
    await sync.stop();
    expect((await objectBytes(store, 'files/t/doc.txt'))?.toString()).toBe('local version, different');
    expect([...counting.putsByKey.keys()].filter((k) => !k.startsWith('files/t/.persistd/'))).toEqual(['files/t/doc.txt']);
  });

  it('large objects download in parallel ranges and verify', async () => {
    const [src, root, bucket, state, state2] = await dirsFor('src', 'root', 'bucket', 'state', 'state2');
    const store = new FsStore(bucket!);
    const big = Buffer.alloc(5000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
    await writeFile(join(src!, 'big.bin'), big);
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, rescanIntervalMs: 0 });
    await sync.syncOnce();
    await sync.stop();
    const counting = new CountingStore(store);
    const report = await restoreTree({
      store: counting,
      name: 't',
      root: root!,
      stateDir: state2!,
      rangeThresholdBytes: 1000,
      rangeSizeBytes: 700,
    });
    expect(report.downloaded).toBe(1);
    expect(counting.counts.get).toBe(Math.ceil(5000 / 700) + 2); // the ranges, the folder manifest and the replica's format marker
    expect((await readFile(join(root!, 'big.bin'))).equals(big)).toBe(true);
  });
});

describe('policy', () => {
  it('skips symlinks, default-excluded temp files and excluded globs; honours include', async () => {
    const [src, bucket, state, state2, outside] = await dirsFor('src', 'bucket', 'state', 'state2', 'outside');
    const store = new FsStore(bucket!);
    await writeFile(join(outside!, 'secret'), 'outside the tree');
    await mkdir(join(src!, 'cache'));
    await mkdir(join(src!, 'docs'));
    for (const f of [
      'keep.txt',
      'x.tmp',
      'y.part',
      '.~lock.odt#',
      'a.swp',
      'b~',
      '.#c',
      '.DS_Store',
      'cache/big.dat',
      'docs/r.pdf',
      'docs/r.txt',
    ])
      await writeFile(join(src!, f), f);
    await mkdir(join(src!, '.persistd'));
    await writeFile(join(src!, '.persistd', 'state'), 'state');
    await symlink(join(outside!, 'secret'), join(src!, 'link-out'));
    await symlink(outside!, join(src!, 'dir-link'));
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, exclude: ['cache'], rescanIntervalMs: 0 });
    const status = await sync.syncOnce();
    await sync.stop();
    expect(status.symlinks).toBe(2);
    expect(await keysUnder(store, 'files/t/')).toEqual(['files/t/docs/r.pdf', 'files/t/docs/r.txt', 'files/t/keep.txt']);
    const only = new TreeSync({ store, name: 'u', root: src!, stateDir: state2!, include: ['*.pdf'], rescanIntervalMs: 0 });
    await only.syncOnce();
    await only.stop();
    expect(await keysUnder(store, 'files/u/')).toEqual(['files/u/docs/r.pdf']);
  });

  it.skipIf(process.getuid?.() === 0)('an unreadable file is reported and retried, not fatal', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new FsStore(bucket!);
    await writeFile(join(src!, 'locked.txt'), 'x');
    await writeFile(join(src!, 'ok.txt'), 'y');
    await chmod(join(src!, 'locked.txt'), 0o000);
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, rescanIntervalMs: 0 });
    const status = await sync.syncOnce();
    expect(status.unreadable).toEqual(['locked.txt']);
    expect(await keysUnder(store, 'files/t/')).toEqual(['files/t/ok.txt']);
    await chmod(join(src!, 'locked.txt'), 0o644);
    await sync.stop();
  });
});
