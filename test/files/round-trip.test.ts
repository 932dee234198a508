import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { restoreTree } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import { diffTrees, keysUnder, objectBytes, ODD_NAMES, snapshotTree, tempDirs, writeTree } from './helpers.js';
import { pollUntil } from '../support/poll.js';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

describe('directories round-trip on FsStore', () => {
  it('restore → change → watch → upload → delete → restore again preserves content, mtime and mode', async () => {
    const [src, bucket, stateA, restored, stateB, again] = await Promise.all(
      ['src', 'bucket', 'stateA', 'restored', 'stateB', 'again'].map(fresh),
    );
    const store = new FsStore(bucket!);
    await writeTree(src!);

    const first = new TreeSync({ store, name: 'uploads', root: src!, stateDir: stateA!, rescanIntervalMs: 0 });
    const status = await first.syncOnce();
    await first.stop();
    expect(status.uploadedItems).toBe(3 + ODD_NAMES.length);
    for (const name of ODD_NAMES)
      expect((await objectBytes(store, `files/uploads/${name}`))?.toString()).toBe(`content of ${name}\n`.repeat(3));

    const report = await restoreTree({ store, name: 'uploads', root: restored!, stateDir: stateB! });
    expect(report.downloaded).toBe(3 + ODD_NAMES.length);
    expect(diffTrees(await snapshotTree(src!), await snapshotTree(restored!))).toEqual([]);

    // The restored index means the sync starts with nothing to upload.
    const sync = new TreeSync({ store, name: 'uploads', root: restored!, stateDir: stateB!, deleteGraceMs: 100, rescanIntervalMs: 0 });
    await sync.start();
    expect(sync.status().uploadedItems).toBe(0);
    try {
      await writeFile(join(restored!, 'sub/b.bin'), 'changed\n');
      await chmod(join(restored!, 'sub/b.bin'), 0o700);
      await writeFile(join(restored!, 'new file.txt'), 'new\n');
      await pollUntil(
        'changes uploaded',
        async () =>
          (await objectBytes(store, 'files/uploads/sub/b.bin'))?.toString() === 'changed\n' &&
          (await objectBytes(store, 'files/uploads/new file.txt')) !== undefined,
      );
      await rm(join(restored!, 'a.txt'));
      await pollUntil('delete propagated', async () => (await store.head('files/uploads/a.txt')) === undefined);
      await pollUntil('index settled', () => sync.status().queued === 0 && sync.status().inFlight === 0 && sync.status().settling === 0);
    } finally {
      await sync.stop();
    }
    const trash = await keysUnder(store, 'files/uploads/.persistd/trash/');
    expect(trash).toHaveLength(1);
    expect(trash[0]).toMatch(/^files\/uploads\/\.persistd\/trash\/\d{8}T\d{9}Z\/a\.txt$/);

    const stateC = await fresh('stateC');
    await restoreTree({ store, name: 'uploads', root: again!, stateDir: stateC });
    expect(diffTrees(await snapshotTree(restored!), await snapshotTree(again!))).toEqual([]);
    expect((await snapshotTree(again!)).has('.persistd')).toBe(false);

    // includeDeleted brings the trashed file back, with its original content, mtime and mode.
    const undeleted = await restoreTree({ store, name: 'uploads', root: again!, stateDir: stateC, includeDeleted: true });
    expect(undeleted.undeleted).toEqual(['a.txt']);
    expect(
      diffTrees(await snapshotTree(src!), await snapshotTree(again!)).filter((p) => !p.includes('sub/b.bin') && !p.includes('new file')),
    ).toEqual([]);
    expect(await readFile(join(again!, 'a.txt'), 'utf8')).toBe('content of a.txt\n'.repeat(3));
  });
});
