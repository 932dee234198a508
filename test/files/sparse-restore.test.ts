// A sparse file (a VM image, a preallocated database) used to come back fully allocated: 1 GiB of holes
// became 1 GiB of written zeros. Restores skip all-zero blocks, so holes stay holes (checked via st_blocks).
import { lstat, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreTree } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { createTestBucket, testS3Store } from '../support/test-s3.js';
import { tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
let s3: S3Store;
beforeAll(async () => {
  s3 = testS3Store(await createTestBucket('sparse'));
});
afterAll(async () => {
  s3?.destroy();
  await removeAll();
});

const SIZE = 8 * 1024 * 1024;

/** An 8 MiB file with 10,000 bytes of data at its start, 3 bytes in the middle, and a hole at its end. */
async function writeSparse(path: string): Promise<void> {
  const fh = await open(path, 'w');
  await fh.write(Buffer.alloc(10_000, 0x61), 0, 10_000, 0);
  await fh.write(Buffer.from('mid'), 0, 3, 3 * 1024 * 1024 + 17);
  await fh.truncate(SIZE);
  await fh.close();
}

const allocated = async (path: string): Promise<number> => (await lstat(path)).blocks * 512;

describe.each([
  ['file://', async () => new FsStore(await fresh('bucket'))],
  ['S3 (Ceph RGW)', async () => s3],
] as [string, () => Promise<ObjectStore>][])('sparse files on %s', (_label, makeStore) => {
  it('restore sparse, in one stream and in parallel ranges, with the same bytes', async () => {
    const store = await makeStore();
    const src = await fresh('src');
    await writeSparse(join(src, 'disk.img'));
    expect(await allocated(join(src, 'disk.img'))).toBeLessThan(64 * 1024);
    const sync = new TreeSync({ store, name: 'images', root: src, stateDir: await fresh('state'), rescanIntervalMs: 0 });
    expect((await sync.syncOnce()).uploadedItems).toBe(1);
    await sync.stop();

    const original = await readFile(join(src, 'disk.img'));
    for (const ranges of [false, true]) {
      const root = await fresh(ranges ? 'ranges' : 'stream');
      const report = await restoreTree({
        store,
        name: 'images',
        root,
        stateDir: await fresh('state'),
        ...(ranges ? { rangeThresholdBytes: 1024 * 1024, rangeSizeBytes: 1024 * 1024 } : {}),
      });
      expect(report.failed).toEqual([]);
      const path = join(root, 'disk.img');
      expect((await lstat(path)).size).toBe(SIZE);
      expect((await readFile(path)).equals(original)).toBe(true);
      // Two data blocks (the start, the middle) plus file-system overhead; written out in full it would be 8 MiB.
      expect(await allocated(path), ranges ? 'ranges' : 'stream').toBeLessThan(64 * 1024);
    }
  }, 60_000);
});
