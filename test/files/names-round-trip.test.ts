// Every file name Linux allows must come back from a restore byte for byte: names that are not valid UTF-8,
// names with a backslash or a leading `c:`, and names that look like persistd's own escapes. Normal names keep
// the plain keys they always had; the others get an `x:` key (format 2) that persistd 0.1 refuses.
import { mkdir, readdir, readFile, lstat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Of } from '../../src/files/hash-file.js';
import { restoreTree } from '../../src/files/restore-tree.js';
import { encodeFileMetadata } from '../../src/format/files-metadata.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { createTestBucket, testS3Store } from '../support/test-s3.js';
import { tempDirs } from './helpers.js';
import { pollUntil } from '../support/poll.js';

const { fresh, removeAll } = tempDirs();
let s3: S3Store;
beforeAll(async () => {
  s3 = testS3Store(await createTestBucket('names'));
});
afterAll(async () => {
  s3?.destroy();
  await removeAll();
});

const raw = (latin1: string): Buffer => Buffer.from(latin1, 'latin1');
const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
const under = (root: string, rel: Buffer): Buffer => Buffer.concat([utf8(`${root}/`), rel]);

/** Relative paths (raw bytes) of the files to round-trip, and the key text each must get. */
const FILES: [Buffer, string][] = [
  [raw('caf\xe9.txt'), 'x:caf%E9.txt'],
  [raw('dir-\xff/inner.txt'), 'x:dir-%FF/inner.txt'],
  [raw('dir-\xff/deeper-\xfe/x.bin'), 'x:dir-%FF/deeper-%FE/x.bin'],
  [raw('plain/sub-\x80.txt'), 'x:plain/sub-%80.txt'],
  [utf8('back\\slash.txt'), 'x:back%5Cslash.txt'],
  [utf8('c:drive.txt'), 'x:c:drive.txt'],
  [utf8('x:marker.txt'), 'x:x:marker.txt'],
  [utf8('x:%41.txt'), 'x:x:%2541.txt'],
  [utf8('pct%E9.txt'), 'pct%E9.txt'],
  [utf8('plain/ok.txt'), 'plain/ok.txt'],
  [utf8('été ünï.txt'), 'été ünï.txt'],
  [utf8('tab\there.txt'), 'tab\there.txt'],
  [Buffer.concat([utf8('surrogate-'), Buffer.from([0xed, 0xa0, 0x80]), utf8('.txt')]), 'x:surrogate-%ED%A0%80.txt'],
];
/** Folders (raw bytes) with no file in them: they come back through the folder manifest. */
const EMPTY_DIRS = [raw('empty-\xfd'), raw('dir-\xff/empty-\xfc')];

/** The rule persistd 0.1.0 used to refuse a remote path (src/files/safe-relative-path.ts at 0.1.0). */
function unsafeFor01(relPath: string): string | undefined {
  if (relPath === '') return 'empty path';
  if (relPath.includes('\0')) return 'contains a NUL byte';
  if (relPath.includes('\\')) return 'contains a backslash';
  if (relPath.startsWith('/')) return 'is absolute';
  if (/^[A-Za-z]:/.test(relPath)) return 'starts with a drive letter';
  return undefined;
}

async function writeOddTree(root: string): Promise<void> {
  let t = 1_700_000_000_000.25;
  for (const [rel] of FILES) {
    const path = under(root, rel);
    await mkdir(path.subarray(0, path.lastIndexOf(0x2f)), { recursive: true });
    await writeFile(path, Buffer.concat([utf8('content of '), rel]));
    t += 1000;
    await utimes(path, t / 1000, t / 1000);
  }
  for (const dir of EMPTY_DIRS) await mkdir(under(root, dir), { recursive: true });
  // Folder mtimes away from a ms boundary, set deepest first (setting one does not move its parent's).
  for (const dir of [...EMPTY_DIRS, raw('dir-\xff/deeper-\xfe'), raw('dir-\xff'), utf8('plain')].sort((a, b) => b.length - a.length)) {
    t += 1000;
    await utimes(under(root, dir), t / 1000, t / 1000);
  }
}

/** Every entry below `root` by its raw path (hex), with the file's bytes, or `dir` for a folder. */
async function rawTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: Buffer): Promise<void> => {
    const dir = rel.length === 0 ? utf8(root) : under(root, rel);
    for (const entry of await readdir(dir, { withFileTypes: true, encoding: 'buffer' })) {
      const child = rel.length === 0 ? entry.name : Buffer.concat([rel, utf8('/'), entry.name]);
      if (child.toString('latin1').startsWith('.persistd')) continue;
      if (entry.isDirectory()) {
        // Folder mtimes come back from the folder manifest to the µs (utimes takes a double): compared in ms.
        out.set(child.toString('hex'), `dir mtime ${Math.round((await lstat(under(root, child))).mtimeMs)}`);
        await walk(child);
      } else
        out.set(
          child.toString('hex'),
          `${(await readFile(under(root, child))).toString('hex')} mtime ${(await lstat(under(root, child))).mtimeMs}`,
        );
    }
  };
  await walk(Buffer.alloc(0));
  return out;
}

async function keysOf(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) if (!o.key.slice(prefix.length).startsWith('.persistd/')) keys.push(o.key.slice(prefix.length));
  return keys.sort();
}

describe.each([
  ['file://', async () => new FsStore(await fresh('bucket'))],
  ['S3 (Ceph RGW)', async () => s3],
] as [string, () => Promise<ObjectStore>][])('file names on %s', (_label, makeStore) => {
  it('every name round-trips: backup, then restore into an empty folder gives the same bytes under the same raw names', async () => {
    const store = await makeStore();
    const [src, stateA, restored, stateB] = [await fresh('src'), await fresh('stateA'), await fresh('restored'), await fresh('stateB')];
    await writeOddTree(src);

    const sync = new TreeSync({ store, name: 'odd', root: src, stateDir: stateA, rescanIntervalMs: 0 });
    const status = await sync.syncOnce({ deleteUnseen: true });
    await sync.stop();
    expect(status.failing, status.lastError?.message).toBe(0);
    expect(status.uploadedItems).toBe(FILES.length);

    // Plain names keep their plain keys; every other key starts with `x:`, which persistd 0.1 refuses.
    const keys = await keysOf(store, 'files/odd/');
    expect(keys).toEqual(FILES.map(([, key]) => key).sort());
    for (const key of keys.filter((k) => k.startsWith('x:'))) expect(unsafeFor01(key), key).toBe('starts with a drive letter');

    const report = await restoreTree({ store, name: 'odd', root: restored, stateDir: stateB });
    expect(report.refused).toEqual([]);
    expect(report.failed).toEqual([]);
    expect(report.downloaded).toBe(FILES.length);
    expect(await rawTree(restored)).toEqual(await rawTree(src));

    // The restored tree and its index agree: the next pass uploads nothing.
    const again = new TreeSync({ store, name: 'odd', root: restored, stateDir: stateB, rescanIntervalMs: 0 });
    const second = await again.syncOnce({ deleteUnseen: true });
    await again.stop();
    expect(second.uploadedItems).toBe(0);
    expect(second.deletedItems).toBe(0);
  }, 60_000);

  it('a file with such a name that appears while watching is uploaded, and deleted remotely when removed', async () => {
    const store = await makeStore();
    const [src, state] = [await fresh('watch'), await fresh('watch-state')];
    await mkdir(under(src, raw('sub-\xf0')), { recursive: true });
    const sync = new TreeSync({
      store,
      name: 'watched',
      root: src,
      stateDir: state,
      deleteGraceMs: 100,
      keepDeletedMs: 0,
      rescanIntervalMs: 0,
    });
    await sync.start();
    try {
      await writeFile(under(src, raw('sub-\xf0/new-\xfa.txt')), 'arrived while watching');
      await pollUntil('the upload', async () => (await store.head('files/watched/x:sub-%F0/new-%FA.txt')) !== undefined, 10_000);
      const { rm } = await import('node:fs/promises');
      await rm(under(src, raw('sub-\xf0/new-\xfa.txt')));
      await pollUntil('the remote delete', async () => (await store.head('files/watched/x:sub-%F0/new-%FA.txt')) === undefined, 10_000);
    } finally {
      await sync.stop();
    }
  }, 30_000);
});

describe('keys persistd does not write are refused, never restored under another name', () => {
  it('non-canonical escapes, a bare drive letter and a backslash are reported by key', async () => {
    const store = new FsStore(await fresh('bucket-refused'));
    const body = Buffer.from('x');
    for (const key of ['x:plain.txt', 'x:%41.txt', 'x:bad%e9.txt', 'x:bad%G1.txt', 'c:drive.txt', 'x:a/%2E%2E/b.txt', 'x:dot/%2E/b.txt'])
      await store.put(`files/t/${key}`, body);
    await store.put('files/t/good.txt', body);
    const root = await fresh('refused-root');
    const report = await restoreTree({ store, name: 't', root, stateDir: await fresh('refused-state') });
    expect(report.downloaded).toBe(1);
    expect(report.refused.map((r) => r.key).sort()).toEqual(
      ['x:plain.txt', 'x:%41.txt', 'x:bad%e9.txt', 'x:bad%G1.txt', 'c:drive.txt', 'x:a/%2E%2E/b.txt', 'x:dot/%2E/b.txt']
        .map((k) => `files/t/${k}`)
        .sort(),
    );
    expect((await readdir(root)).filter((n) => !n.startsWith('.persistd'))).toEqual(['good.txt']);
  });
});

describe('a replica and index written by persistd 0.1 (S3: it stored such names as they were)', () => {
  it('the next backup moves `back\\slash.txt` and `c:drive.txt` to their x: keys, so a restore brings them back', async () => {
    const [src, state, restored] = [await fresh('legacy-src'), await fresh('legacy-state'), await fresh('legacy-restored')];
    const names = ['back\\slash.txt', 'c:drive.txt', 'plain.txt'];
    const lines = [JSON.stringify({ persistd: 'files-index', v: 1 })];
    for (const name of names) {
      const body = Buffer.from(`content of ${name}\n`);
      await writeFile(join(src, name), body);
      const st = await lstat(join(src, name));
      const sha256 = sha256Of(body);
      const { etag } = await s3.put(`files/legacy/${name}`, body, {
        metadata: encodeFileMetadata({ mtimeMs: st.mtimeMs, mode: st.mode & 0o7777, sha256 }),
      });
      lines.push(JSON.stringify([name, st.size, st.mtimeMs, st.mode & 0o7777, sha256, etag]));
    }
    // persistd 0.1 kept the index straight in <state>/files/, bound to no replica: it is adopted and checked against a listing.
    await mkdir(join(state, 'files'), { recursive: true });
    await writeFile(join(state, 'files', 'legacy.index'), `${lines.join('\n')}\n`);
    expect(
      (await restoreTree({ store: s3, name: 'legacy', root: await fresh('before'), stateDir: await fresh('before-state') })).refused,
    ).toHaveLength(2);

    const sync = new TreeSync({ store: s3, name: 'legacy', root: src, stateDir: state, rescanIntervalMs: 0 });
    const status = await sync.syncOnce({ deleteUnseen: true });
    await sync.stop();
    expect(status.uploadedItems).toBe(2);
    expect(status.deletedItems).toBe(2);
    expect(await keysOf(s3, 'files/legacy/')).toEqual(['plain.txt', 'x:back%5Cslash.txt', 'x:c:drive.txt']);
    const report = await restoreTree({ store: s3, name: 'legacy', root: restored, stateDir: await fresh('legacy-state2') });
    expect(report.refused).toEqual([]);
    for (const name of names) expect(await readFile(join(restored, name), 'utf8')).toBe(`content of ${name}\n`);
  }, 30_000);
});
