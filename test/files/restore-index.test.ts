// After a restore the local index describes the bucket: entries of objects no longer there are dropped,
// restored and already-present files are indexed.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { filesStateDir } from '../../src/files/files-state-dir.js';
import { treeIndexPath } from '../../src/files/index-path.js';
import { LocalIndex } from '../../src/files/local-index.js';
import { restoreTree } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import { tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

describe('restoreTree and the local index', () => {
  it('drops index entries of objects that are gone and indexes what it restored or found in place', async () => {
    const replica = await fresh('restore-index-replica');
    const source = await fresh('restore-index-source');
    const target = await fresh('restore-index-target');
    const state = await fresh('restore-index-state');
    const store = new FsStore(replica);
    await mkdir(join(source, 'a', 'b'), { recursive: true });
    await writeFile(join(source, 'a', 'b', 'one.txt'), 'one');
    await writeFile(join(source, 'two.txt'), 'two');
    const sync = new TreeSync({ store, name: 't', root: source, stateDir: join(source, '.persistd'), keepDeletedMs: 0 });
    await sync.syncOnce();
    await sync.stop();

    // The restore's state already knows a file the bucket no longer has.
    const stale = await LocalIndex.load(treeIndexPath(await filesStateDir(state, store), 't'));
    stale.set('gone/away.txt', { size: 3, mtimeMs: 1, mode: 0o644, sha256: 'f'.repeat(64), etag: 'e' });
    await stale.flush();
    await mkdir(target, { recursive: true });
    await writeFile(join(target, 'two.txt'), 'two'); // already there, identical

    const report = await restoreTree({ store, name: 't', root: target, stateDir: state });
    expect(report.downloaded).toBe(1);
    expect(report.skipped).toBe(1);
    const index = await LocalIndex.load(treeIndexPath(await filesStateDir(state, store), 't'));
    expect([...index.paths()].sort()).toEqual(['a/b/one.txt', 'two.txt']);
    expect(index.get('a/b/one.txt')?.size).toBe(3);
  });
});
