// One-shot `persistd backup` of directories propagates local deletes (issue 4, item "one-shot"): a file the
// index knew and that is gone locally goes to the trash, behind the mass-delete guard; an empty or missing
// directory never deletes anything. Run on both backends, and once through the real CLI.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, testS3Store } from '../support/test-s3.js';
import { keysUnder, tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
const stores: S3Store[] = [];
afterAll(async () => {
  for (const s of stores) s.destroy();
  await removeAll();
});

async function writeFiles(root: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `d${i % 3}/f${i}.txt`);
  for (const name of names) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), `file ${name}\n`);
  }
  return names;
}

/** One `persistd backup` of the directory: a fresh TreeSync (nothing seen in this process) and one pass. */
async function backupOnce(store: ObjectStore, name: string, root: string, state: string, extra: { exclude?: string[] } = {}) {
  const sync = new TreeSync({ store, name, root, stateDir: state, rescanIntervalMs: 0, ...extra });
  try {
    return await sync.syncOnce({ deleteUnseen: true });
  } finally {
    await sync.stop();
  }
}

const live = async (store: ObjectStore, name: string): Promise<string[]> =>
  (await keysUnder(store, `files/${name}/`))
    .filter((k) => !k.startsWith(`files/${name}/.persistd/`))
    .map((k) => k.slice(`files/${name}/`.length));
const trashed = async (store: ObjectStore, name: string): Promise<string[]> =>
  (await keysUnder(store, `files/${name}/.persistd/trash/`)).map((k) => k.split('/').slice(5).join('/')).sort();

const backends: [string, () => Promise<ObjectStore>][] = [
  ['FsStore', async () => new FsStore(await fresh('bucket'))],
  [
    'S3Store on Ceph RGW',
    async () => {
      const store = testS3Store(await createTestBucket('backup-deletes'), { prefix: 'p/' });
      stores.push(store);
      return store;
    },
  ],
];

describe.each(backends)('one-shot backup deletes on %s', (_name, makeStore) => {
  let store: ObjectStore;
  beforeAll(async () => {
    store = await makeStore();
  });

  it('moves files deleted since the last backup to the trash, and leaves excluded and unknown ones alone', async () => {
    const [root, state] = [await fresh('root'), await fresh('state')];
    const names = await writeFiles(root, 12);
    expect((await backupOnce(store, 'moved', root, state)).uploadedItems).toBe(12);
    await rm(join(root, names[0]!));
    await rm(join(root, names[1]!));
    await rm(join(root, names[2]!)); // excluded from now on: not ours to delete any more
    const status = await backupOnce(store, 'moved', root, state, { exclude: [names[2]!] });
    expect(status.deletedItems).toBe(2);
    expect(status.deletesPaused).toBe(false);
    expect(await live(store, 'moved')).toEqual(names.slice(2).sort());
    expect(await trashed(store, 'moved')).toEqual([names[0]!, names[1]!].sort());
    // A third backup with nothing changed deletes nothing more.
    expect((await backupOnce(store, 'moved', root, state, { exclude: [names[2]!] })).deletedItems).toBe(0);
  });

  it('deletes nothing when the directory is empty or missing, whatever the index says', async () => {
    const [root, state] = [await fresh('root'), await fresh('state')];
    const names = await writeFiles(root, 5);
    await backupOnce(store, 'empty', root, state);
    for (const name of names) await rm(join(root, name));
    expect((await backupOnce(store, 'empty', root, state)).deletedItems).toBe(0);
    await rm(root, { recursive: true });
    expect((await backupOnce(store, 'empty', root, state)).deletedItems).toBe(0);
    expect(await live(store, 'empty')).toEqual([...names].sort());
  });

  it('holds every delete back when too many files vanished at once (mass-delete guard)', async () => {
    const [root, state] = [await fresh('root'), await fresh('state')];
    const names = await writeFiles(root, 40);
    await backupOnce(store, 'guard', root, state);
    for (const name of names.slice(0, 15)) await rm(join(root, name)); // 15 > max(10, 20% of 40)
    const status = await backupOnce(store, 'guard', root, state);
    expect(status.deletesPaused).toBe(true);
    expect(status.deletedItems).toBe(0);
    expect(await live(store, 'guard')).toEqual([...names].sort());
    expect(await trashed(store, 'guard')).toEqual([]);
  });
});

describe('persistd backup (CLI) with directories', () => {
  it('deletes remotely what was deleted locally, and exits 3 with nothing deleted when the guard trips', async () => {
    const [bucket, app] = [await fresh('cli-bucket'), await fresh('cli-app')];
    const root = join(app, 'uploads');
    const names = await writeFiles(root, 20);
    const args = ['backup', '--to', pathToFileURL(bucket).href, '--dir', root, '--state-dir', join(app, 'state'), '--max-delete', '0.1'];
    const store = new FsStore(bucket);
    const objects = async (): Promise<string[]> => (await keysUnder(store, 'files/uploads/')).filter((k) => !k.includes('/.persistd/'));

    expect((await runPersistd(args)).code).toBe(0);
    expect(await objects()).toHaveLength(20);
    await rm(join(root, names[0]!));
    const second = await runPersistd(args);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('1 deleted');
    expect(await objects()).toHaveLength(19);
    expect(await keysUnder(store, 'files/uploads/.persistd/trash/')).toHaveLength(1);

    for (const name of names.slice(1, 15)) await rm(join(root, name)); // 14 > max(10, 10% of 19)
    const third = await runPersistd(args);
    expect(third.code, third.stderr).toBe(3);
    expect(third.stderr).toContain('mass-delete guard');
    expect(await objects()).toHaveLength(19);
  }, 60_000);
});
