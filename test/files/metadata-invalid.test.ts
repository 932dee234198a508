// Metadata read from the bucket is checked before it is used: an mtime of 1e300 used to fail the file with a raw
// `EINVAL: futime` (and in the folder manifest aborted every folder's mode and mtime); a mode that is not one
// silently became 0644. Now the file's content (verified by its sha256) is restored, the invalid field is not
// used, and the report names the file and what was wrong.
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Of } from '../../src/files/hash-file.js';
import { restoreTree } from '../../src/files/restore-tree.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { createTestBucket, testS3Store } from '../support/test-s3.js';
import { tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
let s3: S3Store;
beforeAll(async () => {
  s3 = testS3Store(await createTestBucket('metadata'));
});
afterAll(async () => {
  s3?.destroy();
  await removeAll();
});

const GOOD_MTIME = 1_700_000_000_000;
const BAD_MTIMES = ['1e300', '-5', 'NaN', 'abc', '', '0x10', 'Infinity'];
const BAD_MODES = ['99999', '-1', '8', 'rwx', '17777'];

async function plant(store: ObjectStore, tree: string): Promise<void> {
  const put = async (rel: string, fields: Record<string, string>): Promise<void> => {
    const body = Buffer.from(`content of ${rel}\n`);
    await store.put(`files/${tree}/${rel}`, body, {
      metadata: { 'persistd-sha256': sha256Of(body), 'persistd-mode': '644', 'persistd-mtime': String(GOOD_MTIME), ...fields },
    });
  };
  for (const [i, mtime] of BAD_MTIMES.entries()) await put(`mtime-${i}.txt`, { 'persistd-mtime': mtime });
  for (const [i, mode] of BAD_MODES.entries()) await put(`mode-${i}.txt`, { 'persistd-mode': mode });
  await put('good.txt', {});
  await put('a/in-a.txt', {});
  await put('c/in-c.txt', {});
  // One bad row per kind, between good ones: the good folders still get their modes and mtimes.
  const dirs = {
    persistd: 'files-dirs',
    v: 1,
    dirs: [
      ['', '755', GOOD_MTIME],
      ['a', '755', 1e300],
      ['b', '7777x', GOOD_MTIME],
      ['c', '750', GOOD_MTIME + 5000],
      ['d', '755', -1],
      [5, '755', GOOD_MTIME],
      ['e', '711', GOOD_MTIME + 7000],
    ],
  };
  await store.put(`files/${tree}/.persistd/dirs.json`, `${JSON.stringify(dirs)}\n`);
}

describe.each([
  ['file://', async () => new FsStore(await fresh('bucket'))],
  ['S3 (Ceph RGW)', async () => s3],
] as [string, () => Promise<ObjectStore>][])('invalid metadata on %s', (_label, makeStore) => {
  it('restores every file with its content, never with the invalid value, and reports each one', async () => {
    const store = await makeStore();
    await plant(store, 'bad');
    const root = await fresh('root');
    const started = Date.now();
    const report = await restoreTree({ store, name: 'bad', root, stateDir: await fresh('state') });
    expect(report.failed).toEqual([]);
    expect(report.downloaded).toBe(BAD_MTIMES.length + BAD_MODES.length + 3);
    for (const [i, mtime] of BAD_MTIMES.entries()) {
      const path = join(root, `mtime-${i}.txt`);
      expect(await readFile(path, 'utf8')).toBe(`content of mtime-${i}.txt\n`);
      expect((await lstat(path)).mtimeMs, `mtime ${mtime} not used`).toBeGreaterThanOrEqual(started - 1000);
      expect(report.metadataProblems).toContainEqual({
        path: `mtime-${i}.txt`,
        why: expect.stringContaining(`persistd-mtime ${JSON.stringify(mtime)} is not a time`),
      });
    }
    for (const [i, mode] of BAD_MODES.entries()) {
      const path = join(root, `mode-${i}.txt`);
      expect((await lstat(path)).mode & 0o7777, `mode ${mode}`).toBe(0o600);
      expect((await lstat(path)).mtimeMs).toBe(GOOD_MTIME);
      expect(report.metadataProblems).toContainEqual({
        path: `mode-${i}.txt`,
        why: expect.stringContaining(`persistd-mode ${JSON.stringify(mode)} is not a permission mode`),
      });
    }
    expect((await lstat(join(root, 'good.txt'))).mtimeMs).toBe(GOOD_MTIME);

    // Folder manifest: the bad rows are reported, the good ones applied.
    expect(
      report.metadataProblems
        .filter((p) => !p.path.endsWith('.txt'))
        .map((p) => p.path)
        .sort(),
    ).toEqual(['[5,"755",1700000000000]', 'a', 'b', 'd']);
    const c = await lstat(join(root, 'c'));
    expect(c.mode & 0o7777).toBe(0o750);
    expect(c.mtimeMs).toBe(GOOD_MTIME + 5000);
    expect((await lstat(join(root, 'e'))).mtimeMs).toBe(GOOD_MTIME + 7000);
    expect((await lstat(root)).mtimeMs).toBe(GOOD_MTIME);
  });
});
