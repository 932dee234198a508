import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GlobMatcher } from '../../src/files/glob-matcher.js';
import { packEntry, unpackEntry } from '../../src/files/index-entry-codec.js';
import type { IndexEntry } from '../../src/files/index-entry.js';
import { LocalIndex } from '../../src/files/local-index.js';
import { PathFilter } from '../../src/files/path-filter.js';
import { unsafeRelPathReason } from '../../src/files/safe-relative-path.js';
import { formatTrashStamp, parseTrashKey, trashKey } from '../../src/format/files-keys.js';
import { tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

describe('GlobMatcher', () => {
  it.each([
    ['*.tmp', 'a/b/c.tmp', true],
    ['*.tmp', 'a/b/c.tmpx', false],
    ['cache', 'cache/x/y', true],
    ['uploads/**/*.pdf', 'uploads/a/b/c.pdf', true],
    ['uploads/**/*.pdf', 'uploads/c.pdf', true],
    ['uploads/*.pdf', 'uploads/a/c.pdf', false],
    ['/vault', 'vault/x', true],
    ['/vault', 'a/vault/x', false],
    ['vault', 'a/vault/x', true],
    ['a/vault', 'b/a/vault', false],
    ['*.{jpg,png}', 'x/y.png', true],
    ['file?.txt', 'file1.txt', true],
    ['[!a]*.txt', 'b.txt', true],
    ['[!a]*.txt', 'a.txt', false],
    ['.~*', '.~lock.x#', true],
    ['docs/**', 'docs/a/b', true],
  ])('%s matches %s: %s', (pattern, path, expected) => {
    expect(new GlobMatcher([pattern]).matches(path)).toBe(expected);
  });

  it('always excludes the root .persistd folder, even without default excludes', () => {
    const f = new PathFilter({ defaultExcludes: false });
    expect(f.accepts('.persistd/x')).toBe(false);
    expect(f.accepts('x.tmp')).toBe(true);
  });
});

describe('unsafeRelPathReason', () => {
  it('accepts odd but safe names and refuses escapes', () => {
    for (const ok of ['a b/c#d?e%f.txt', 'ünï/日本', '...', '..a', 'a..b/c']) expect(unsafeRelPathReason(ok)).toBeUndefined();
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a\\b', 'a\0b', 'a//b', 'a/', './a', 'C:/x', '.persistd/trash/x'])
      expect(unsafeRelPathReason(bad)).toBeDefined();
  });
});

describe('trash keys', () => {
  it('round-trip time and path', () => {
    const at = new Date('2026-11-22T12:34:56.789Z');
    expect(formatTrashStamp(at)).toBe('20261122T123456789Z');
    expect(parseTrashKey('u', trashKey('u', at, 'a b/c.txt'))).toEqual({ deletedAt: at, relPath: 'a b/c.txt' });
    expect(parseTrashKey('u', 'files/u/.persistd/trash/garbage/x')).toBeUndefined();
  });
});

describe('LocalIndex', () => {
  it('persists sets and deletes, survives a torn last line, and compacts', async () => {
    const dir = await fresh('index');
    const file = join(dir, 'files', 't.index');
    const index = await LocalIndex.load(file);
    expect(index.existed).toBe(false);
    for (let i = 0; i < 3000; i++)
      index.set(`p/${i} ü#?.txt`, { size: i, mtimeMs: 1_700_000_000_000.5 + i, mode: 0o644, sha256: 'a'.repeat(64), etag: `e${i}` });
    await index.flush();
    index.delete('p/0 ü#?.txt');
    index.set('p/1 ü#?.txt', { size: 1, mtimeMs: 5, mode: 0o600, sha256: 'b'.repeat(64), etag: 'x' });
    await index.flush();
    await appendFile(file, '["torn", 1, 2'); // a crash mid-append
    const loaded = await LocalIndex.load(file);
    loaded.set('after-torn', { size: 9, mtimeMs: 9, mode: 0o644, sha256: 'd'.repeat(64), etag: 't' });
    await loaded.flush();
    expect((await LocalIndex.load(file)).get('after-torn')?.size).toBe(9);
    loaded.delete('after-torn');
    expect(loaded.existed).toBe(true);
    expect(loaded.size).toBe(2999);
    expect(loaded.has('p/0 ü#?.txt')).toBe(false);
    expect(loaded.get('p/1 ü#?.txt')).toEqual({ size: 1, mtimeMs: 5, mode: 0o600, sha256: 'b'.repeat(64), etag: 'x' });
    expect(loaded.get('p/2999 ü#?.txt')?.mtimeMs).toBe(1_700_000_000_000.5 + 2999);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3000; i++)
        loaded.set(`p/${i} ü#?.txt`, { size: round, mtimeMs: 1, mode: 0o644, sha256: 'c'.repeat(64), etag: 'r' });
      await loaded.flush();
    }
    const lines = (await readFile(file, 'utf8')).trim().split('\n').length;
    expect(lines).toBeLessThan(2 * 3000 + 1000 + 2);
    expect((await LocalIndex.load(file)).get('p/5 ü#?.txt')?.size).toBe(2);
  });

  it('rewrites a large index in chunks, and reads a last line that has no newline', async () => {
    const dir = await fresh('index-large');
    const file = join(dir, 'files', 'big.index');
    const index = await LocalIndex.load(file);
    const entry = (i: number): IndexEntry => ({
      size: i * 7,
      mtimeMs: 1_700_000_000_000 + i / 8,
      mode: 0o640,
      sha256: (i % 16).toString(16).repeat(64),
      etag: `${i}`.padStart(32, '0'),
    });
    for (let i = 0; i < 20_000; i++) index.set(`dir ${i % 97}/file-${i}.bin`, entry(i));
    await index.flush(); // a first save rewrites: well over one 256 KiB chunk
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n').length).toBe(20_000 + 2);
    await writeFile(file, `${text}["no newline",1,2,420,"${'e'.repeat(64)}","etag"]`);
    const loaded = await LocalIndex.load(file);
    expect(loaded.existed).toBe(true);
    expect(loaded.size).toBe(20_001);
    expect(loaded.get('no newline')).toEqual({ size: 1, mtimeMs: 2, mode: 0o644, sha256: 'e'.repeat(64), etag: 'etag' });
    for (const i of [0, 1, 9_999, 19_999]) expect(loaded.get(`dir ${i % 97}/file-${i}.bin`)).toEqual(entry(i));
    await loaded.flush(); // the unterminated line makes the next save a rewrite
    const again = await readFile(file, 'utf8');
    expect(again.endsWith('\n')).toBe(true);
    expect((await LocalIndex.load(file)).get('no newline')?.size).toBe(1);
  });

  it('treats a file without the header as no index', async () => {
    const dir = await fresh('index-foreign');
    const file = join(dir, 'x.index');
    await writeFile(file, '["a",1,2,420,"s","e"]\n');
    const loaded = await LocalIndex.load(file);
    expect(loaded.existed).toBe(false);
    expect(loaded.size).toBe(0);
  });
});

describe('packed index entries', () => {
  it.each<[string, IndexEntry]>([
    [
      'hex digest and MD5 ETag',
      { size: 2048, mtimeMs: 1_700_000_001_234.5625, mode: 0o644, sha256: 'ab'.repeat(32), etag: 'cd'.repeat(16) },
    ],
    ['short ETag', { size: 0, mtimeMs: 5, mode: 0o600, sha256: 'b'.repeat(64), etag: 'x' }],
    ['empty strings, extreme numbers', { size: 2 ** 53 - 1, mtimeMs: -1.5, mode: 0o7777, sha256: '', etag: '' }],
    ['upper-case digest, multipart ETag', { size: 1, mtimeMs: 1, mode: 0, sha256: 'AB'.repeat(32), etag: `${'ef'.repeat(16)}-3` }],
    ['characters above U+00FF and NUL', { size: 1, mtimeMs: 1, mode: 0o755, sha256: 'é漢\u0000', etag: '漢\u0001' }],
    ['very long values', { size: 1, mtimeMs: 1, mode: 0, sha256: 'x'.repeat(2000), etag: 'y'.repeat(2000) }],
  ])('round-trips exactly: %s', (_name, entry) => {
    expect(unpackEntry(packEntry(entry))).toEqual(entry);
  });

  it('packs the usual entry into 68 one-byte characters', () => {
    expect(
      packEntry({ size: 2048, mtimeMs: 1_700_000_001_234.5625, mode: 0o644, sha256: 'ab'.repeat(32), etag: 'cd'.repeat(16) }),
    ).toHaveLength(68);
  });
});
