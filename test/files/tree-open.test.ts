import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import { keysUnder, tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

describe('opening a TreeSync', () => {
  it('reports its label and zero counters before it is opened, and touches nothing', async () => {
    const [bucket, state, parent] = await Promise.all([fresh('bucket'), fresh('state'), fresh('parent')]);
    const root = join(parent, 'not-yet');
    const sync = new TreeSync({ store: new FsStore(bucket), name: 't', root, stateDir: state, rescanIntervalMs: 0 });
    expect(sync.status()).toMatchObject({ label: sync.layout.label, watching: false, indexed: 0, pendingDeletes: 0, inReplica: undefined });
    expect(await sync.flush()).toMatchObject({ done: true });
    expect(await readdir(parent)).toEqual([]); // the folder is made by the first pass, not by the constructor
  });

  it('a failed open (a file where the folder should be) is tried again by the next pass', async () => {
    const [bucket, state, parent] = await Promise.all([fresh('bucket'), fresh('state'), fresh('parent')]);
    const store = new FsStore(bucket);
    const root = join(parent, 'tree');
    await writeFile(root, 'a file, not a folder');
    const sync = new TreeSync({ store, name: 't', root, stateDir: state, rescanIntervalMs: 0 });
    await expect(sync.syncOnce()).rejects.toThrow(/not a directory/);
    await rm(root);
    const status = await sync.syncOnce();
    expect(status.indexed).toBe(0);
    await writeFile(join(root, 'a.txt'), 'now a folder');
    expect((await sync.syncOnce()).indexed).toBe(1);
    await sync.stop();
    expect(await keysUnder(store, 'files/t/')).toEqual(['files/t/a.txt']);
  });

  it('a stop that races the start leaves nothing watching', async () => {
    const [bucket, state, root] = await Promise.all([fresh('bucket'), fresh('state'), fresh('root')]);
    await writeFile(join(root, 'a.txt'), 'x');
    const sync = new TreeSync({
      store: new FsStore(bucket),
      name: 't',
      root,
      stateDir: state,
      rescanIntervalMs: 0,
      reconcileIntervalMs: 0,
    });
    const started = sync.start();
    await sync.stop();
    await started;
    expect(sync.status().watching).toBe(false);
  });

  it('a file gone before the first scan of a tree that was not restored in this process is not deleted; one seen and then gone is', async () => {
    const [bucket, state, root] = await Promise.all([fresh('bucket'), fresh('state'), fresh('root')]);
    const store = new FsStore(bucket);
    const options = { store, name: 't', root, stateDir: state, rescanIntervalMs: 0, deleteGraceMs: 0, keepDeletedMs: 0 };
    await writeFile(join(root, 'a.txt'), 'a');
    await writeFile(join(root, 'b.txt'), 'b');
    const first = new TreeSync(options);
    await first.syncOnce();
    await first.stop();
    await rm(join(root, 'a.txt'));
    const second = new TreeSync(options);
    await second.syncOnce(); // a.txt: in the index, never seen by this process
    expect(second.status().deletedItems).toBe(0);
    await rm(join(root, 'b.txt'));
    await second.syncOnce(); // b.txt: seen by the first pass, now gone
    await second.stop();
    expect(second.status().deletedItems).toBe(1);
    expect(await keysUnder(store, 'files/t/')).toEqual(['files/t/a.txt']);
  });
});
