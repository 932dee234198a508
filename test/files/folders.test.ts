// Folder modes and mtimes (docs/FORMAT.md, "Folders"): recorded in `files/<name>/.persistd/dirs.json`,
// restored (empty folders too); replicas without the manifest restore as before. On both backends.
import { chmod, lstat, mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dirsManifestKey } from '../../src/format/files-keys.js';
import { restoreTree } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { createTestBucket, testS3Store } from '../support/test-s3.js';
import { CountingStore } from './counting-store.js';
import { objectBytes, tempDirs } from './helpers.js';
import { pollUntil } from '../support/poll.js';

const { fresh, removeAll } = tempDirs();
const s3Stores: S3Store[] = [];
afterAll(async () => {
  for (const s of s3Stores) s.destroy();
  await removeAll();
});

/** Mode and mtime of every folder below `root` (the root is `''`). */
async function folderStats(root: string): Promise<Map<string, { mode: number; mtimeMs: number }>> {
  const out = new Map<string, { mode: number; mtimeMs: number }>();
  const walk = async (rel: string): Promise<void> => {
    const st = await lstat(rel === '' ? root : join(root, rel));
    out.set(rel, { mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
    for (const e of await readdir(rel === '' ? root : join(root, rel), { withFileTypes: true })) {
      if (e.isDirectory()) await walk(rel === '' ? e.name : `${rel}/${e.name}`);
    }
  };
  await walk('');
  return out;
}

function diffFolders(a: Awaited<ReturnType<typeof folderStats>>, b: Awaited<ReturnType<typeof folderStats>>): string[] {
  const problems: string[] = [];
  for (const [p, x] of a) {
    const y = b.get(p);
    if (!y) problems.push(`missing folder ${p}`);
    else {
      if (x.mode !== y.mode) problems.push(`mode differs: ${p} ${x.mode.toString(8)} vs ${y.mode.toString(8)}`);
      if (Math.abs(x.mtimeMs - y.mtimeMs) > 0.001) problems.push(`mtime differs: ${p} ${x.mtimeMs} vs ${y.mtimeMs}`);
    }
  }
  for (const p of b.keys()) if (!a.has(p)) problems.push(`extra folder ${p}`);
  return problems;
}

/** A tree with files in nested folders, an empty folder, and distinct folder modes and mtimes (set last, deepest first). */
async function writeFolders(root: string): Promise<void> {
  for (const f of ['a/one.txt', 'a/b/two.txt', 'a/b/c/three.txt', 'private/key.pem', 'top.txt']) {
    await mkdir(join(root, f, '..'), { recursive: true });
    await writeFile(join(root, f), `content of ${f}\n`);
  }
  await mkdir(join(root, 'empty/nested'), { recursive: true });
  const modes: [string, number][] = [
    ['a/b/c', 0o700],
    ['a/b', 0o750],
    ['empty/nested', 0o711],
    ['private', 0o500],
    ['a', 0o755],
    ['empty', 0o775],
    ['', 0o755],
  ];
  let t = 1_600_000_000_000;
  for (const [rel, mode] of modes) {
    const abs = rel === '' ? root : join(root, rel);
    await chmod(abs, mode);
    t += 86_400_123.25;
    await utimes(abs, t / 1000, t / 1000);
  }
}

async function syncOnce(store: ObjectStore, name: string, root: string, state: string): Promise<void> {
  const sync = new TreeSync({ store, name, root, stateDir: state, rescanIntervalMs: 0 });
  try {
    await sync.syncOnce();
  } finally {
    await sync.stop();
  }
}

const backends: [string, () => Promise<ObjectStore>][] = [
  ['FsStore', async () => new FsStore(await fresh('bucket'))],
  [
    'S3Store on Ceph RGW',
    async () => {
      const store = testS3Store(await createTestBucket('folders'), { prefix: 'p/' });
      s3Stores.push(store);
      return store;
    },
  ],
];

describe.each(backends)('folder modes and mtimes on %s', (_name, makeStore) => {
  it('restore brings folders back exactly, empty ones included; an unchanged tree uploads no manifest again', async () => {
    const store = new CountingStore(await makeStore());
    const [src, stateA, target, stateB] = [
      await fresh('src'),
      await fresh('stateA'),
      join(await fresh('target'), 'uploads'),
      await fresh('stateB'),
    ];
    await writeFolders(src);
    const before = await folderStats(src);
    await syncOnce(store, 'f', src, stateA);
    expect(await objectBytes(store, dirsManifestKey('f'))).toBeDefined();

    const report = await restoreTree({ store, name: 'f', root: target, stateDir: stateB });
    expect(report.folders).toBe(before.size);
    expect(diffFolders(before, await folderStats(target))).toEqual([]);

    // The first sync after the restore has nothing to upload: no file, no manifest.
    const puts = store.counts.put;
    await syncOnce(store, 'f', target, stateB);
    expect(store.counts.put).toBe(puts);

    // A changed folder mode is uploaded by the next pass and comes back on the next restore.
    await chmod(join(target, 'a/b'), 0o770);
    await syncOnce(store, 'f', target, stateB);
    expect(store.counts.put).toBe(puts + 1);
    const again = join(await fresh('again'), 'uploads');
    await restoreTree({ store, name: 'f', root: again, stateDir: await fresh('stateC') });
    expect((await lstat(join(again, 'a/b'))).mode & 0o777).toBe(0o770);
    expect(diffFolders(await folderStats(target), await folderStats(again))).toEqual([]);
  });

  it('a replica without a folder manifest restores as before; a local folder keeps its own mode', async () => {
    const store = await makeStore();
    const [src, state, target, stateB] = [await fresh('src'), await fresh('state'), await fresh('target'), await fresh('stateB')];
    await writeFolders(src);
    await syncOnce(store, 'old', src, state);
    await store.delete([dirsManifestKey('old')]); // what persistd wrote before folders were recorded
    const report = await restoreTree({ store, name: 'old', root: target, stateDir: stateB });
    expect(report.downloaded).toBe(5);
    expect(report.folders).toBe(0);
    expect((await readdir(target)).sort()).toEqual(['a', 'private', 'top.txt']);

    await syncOnce(store, 'new', src, await fresh('state2'));
    const local = await fresh('local');
    await mkdir(join(local, 'a'), { mode: 0o700 });
    await chmod(join(local, 'a'), 0o700);
    await restoreTree({ store, name: 'new', root: local, stateDir: await fresh('stateL') });
    expect((await lstat(join(local, 'a'))).mode & 0o777).toBe(0o700); // local wins
    expect((await lstat(join(local, 'a/b'))).mode & 0o777).toBe(0o750); // created by the restore
    expect((await lstat(join(local, 'empty/nested'))).isDirectory()).toBe(true);
  });
});

describe('folders while watching', () => {
  it('a new empty folder reaches the manifest without a rescan', async () => {
    const store = new FsStore(await fresh('bucket'));
    const [root, state] = [await fresh('root'), await fresh('state')];
    await writeFile(join(root, 'x.txt'), 'x');
    const sync = new TreeSync({ store, name: 'w', root, stateDir: state, rescanIntervalMs: 0 });
    await sync.start();
    try {
      await mkdir(join(root, 'task-42'));
      await pollUntil(
        'folder in the manifest',
        async () => (await objectBytes(store, dirsManifestKey('w')))?.toString().includes('"task-42"') === true,
        10_000,
      );
    } finally {
      await sync.stop();
    }
  });
});
