import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GlobMatcher } from '../../src/files/glob-matcher.js';
import { LocalIndex } from '../../src/files/local-index.js';
import { PathFilter } from '../../src/files/path-filter.js';
import { unsafeRelPathReason } from '../../src/files/safe-relative-path.js';
import { formatTrashStamp, parseTrashKey, trashKey } from '../../src/format/files-keys.js';
import { removeAll, tempDir } from './helpers.js';

const dirs: string[] = [];
afterAll(() => removeAll(dirs));

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
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a\\b', 'a\0b', 'a//b', 'a/', './a', 'C:/x', '.persistd/trash/x']) expect(unsafeRelPathReason(bad)).toBeDefined();
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
    const dir = await tempDir('index');
    dirs.push(dir);
    const file = join(dir, 'files', 't.index');
    const index = await LocalIndex.load(file);
    expect(index.existed).toBe(false);
    for (let i = 0; i < 3000; i++) index.set(`p/${i} ü#?.txt`, { size: i, mtimeMs: 1_700_000_000_000.5 + i, mode: 0o644, sha256: 'a'.repeat(64), etag: `e${i}` });
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
      for (let i = 0; i < 3000; i++) loaded.set(`p/${i} ü#?.txt`, { size: round, mtimeMs: 1, mode: 0o644, sha256: 'c'.repeat(64), etag: 'r' });
      await loaded.flush();
    }
    const lines = (await readFile(file, 'utf8')).trim().split('\n').length;
    expect(lines).toBeLessThan(2 * 3000 + 1000 + 2);
    expect((await LocalIndex.load(file)).get('p/5 ü#?.txt')?.size).toBe(2);
  });
});
