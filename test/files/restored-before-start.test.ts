// `run` restores every tree before it starts the app, and starts watching only after: an app that deletes
// a restored file in between (a task folder cleaned up at boot) must see that delete reach the replica,
// as any other delete (trash copy, mass-delete guard), instead of having the file resurrected by the next
// deploy. Without a restore in this process, absence at startup still deletes nothing.
import { rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { restoreTree } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import { keysUnder, objectBytes, tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

/** A replica holding t1/a.bin, t1/b.bin and t2/c.bin, restored into an empty folder by this process. */
async function restoredTree(): Promise<{ store: FsStore; root: string; state: string }> {
  const [bucket, source, sourceState, root, state] = [
    await fresh('bucket'),
    await fresh('source'),
    await fresh('source-state'),
    await fresh('root'),
    await fresh('state'),
  ];
  const store = new FsStore(bucket);
  for (const rel of ['t1/a.bin', 't1/b.bin', 't2/c.bin']) {
    await mkdir(join(source, rel, '..'), { recursive: true });
    await writeFile(join(source, rel), rel);
  }
  const uploader = new TreeSync({ store, name: 'up', root: source, stateDir: sourceState, rescanIntervalMs: 0 });
  await uploader.syncOnce();
  await uploader.stop();
  const report = await restoreTree({ store, name: 'up', root, stateDir: state });
  expect(report.downloaded).toBe(3);
  return { store, root, state };
}

describe('a file the app deletes between the restore and the first scan', () => {
  it('is deleted remotely (trash copy kept) when the index came from a restore in this process', async () => {
    const { store, root, state } = await restoredTree();
    await rm(join(root, 't1'), { recursive: true }); // the app cleans a task folder up right at boot
    const sync = new TreeSync({
      store,
      name: 'up',
      root,
      stateDir: state,
      rescanIntervalMs: 0,
      deleteGraceMs: 0,
      restoredBeforeStart: true,
    });
    await sync.start();
    await sync.flush();
    await sync.stop();
    expect(await keysUnder(store, 'files/up/')).toEqual(['files/up/t2/c.bin']);
    expect((await keysUnder(store, 'files/up/.persistd/trash/')).length).toBe(2);
    // Its folder leaves the folder manifest too (else the next restore recreates it empty).
    const manifest = JSON.parse((await objectBytes(store, 'files/up/.persistd/dirs.json'))!.toString()) as { dirs: [string][] };
    expect(manifest.dirs.map(([p]) => p)).toEqual(['', 't2']);
  });

  it('is kept remotely when nothing says the disk held it in this process (absence at startup means nothing)', async () => {
    const { store, root, state } = await restoredTree();
    await rm(join(root, 't1'), { recursive: true });
    const sync = new TreeSync({ store, name: 'up', root, stateDir: state, rescanIntervalMs: 0, deleteGraceMs: 0 });
    await sync.start();
    await sync.flush();
    await sync.stop();
    expect((await keysUnder(store, 'files/up/')).sort()).toEqual(['files/up/t1/a.bin', 'files/up/t1/b.bin', 'files/up/t2/c.bin']);
  });
});
