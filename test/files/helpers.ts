import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ObjectStore } from '../../src/store/object-store.js';

/** A fresh temp folder (in test/files, use tempDirs(), which removes them all). */
export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `persistd-files-${label}-`));
}

/** A `fresh(label)` that makes temp folders and removes them all after the test file (register with afterAll). */
export function tempDirs(): { fresh: (label: string) => Promise<string>; removeAll: () => Promise<void> } {
  const made: string[] = [];
  return {
    fresh: async (label) => {
      const dir = await tempDir(label);
      made.push(dir);
      return dir;
    },
    removeAll: () => removeAll(made),
  };
}

/** Removes folders made by tempDir. */
export async function removeAll(dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

/** The bytes of an object, or undefined when absent. */
export async function objectBytes(store: ObjectStore, key: string): Promise<Buffer | undefined> {
  if ((await store.head(key)) === undefined) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** All keys under a prefix, except persistd's own below it (`<tree>/.persistd/...`: folder manifest, trash) unless the prefix is inside them. */
export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) if (!/(^|\/)\.persistd\//.test(o.key.slice(prefix.length))) keys.push(o.key);
  return keys;
}

/** Every regular file below `root` with content, mtimeMs and mode: the thing a round trip must preserve. */
export async function snapshotTree(
  root: string,
  skip: (rel: string) => boolean = (rel) => rel.startsWith('.persistd'),
): Promise<Map<string, { content: string; mtimeMs: number; mode: number }>> {
  const out = new Map<string, { content: string; mtimeMs: number; mode: number }>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      if (skip(childRel)) continue;
      if (e.isDirectory()) await walk(childRel);
      else if (e.isFile()) {
        const st = await lstat(join(root, childRel));
        out.set(childRel, {
          content: (await readFile(join(root, childRel))).toString('base64'),
          mtimeMs: st.mtimeMs,
          mode: st.mode & 0o7777,
        });
      }
    }
  };
  await walk('');
  return out;
}

/** Asserts two snapshots are equal in content and mode, and in mtime to within 2 µs (utimes takes a double). */
export function diffTrees(a: Awaited<ReturnType<typeof snapshotTree>>, b: Awaited<ReturnType<typeof snapshotTree>>): string[] {
  const problems: string[] = [];
  for (const [p, x] of a) {
    const y = b.get(p);
    if (!y) problems.push(`missing ${p}`);
    else {
      if (x.content !== y.content) problems.push(`content differs: ${p}`);
      if (x.mode !== y.mode) problems.push(`mode differs: ${p} ${x.mode.toString(8)} vs ${y.mode.toString(8)}`);
      // utimes takes seconds as a double (0.24 µs apart at today's dates) and libuv truncates to ns: up to ~1.2 µs off.
      if (Math.abs(x.mtimeMs - y.mtimeMs) > 0.002) problems.push(`mtime differs: ${p} ${x.mtimeMs} vs ${y.mtimeMs}`);
    }
  }
  for (const p of b.keys()) if (!a.has(p)) problems.push(`extra ${p}`);
  return problems;
}

/** Odd but legal names that must round-trip exactly. */
export const ODD_NAMES = [
  'with space.txt',
  'ünïcødé/日本語.txt',
  'hash#tag.txt',
  'question?.txt',
  'percent%20sign%.txt',
  'plus+and&amp=.txt',
  `${'long-folder-name-'.repeat(10)}/${'deep/'.repeat(20)}${'x'.repeat(200)}.bin`,
];

/** Writes a small tree with odd names, distinct mtimes and a few modes. */
export async function writeTree(root: string): Promise<void> {
  let t = 1_700_000_000_000;
  for (const name of ['a.txt', 'sub/b.bin', 'sub/deeper/c.json', ...ODD_NAMES]) {
    const p = join(root, name);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, `content of ${name}\n`.repeat(3));
    t += 1234.5;
    await utimes(p, t / 1000, t / 1000);
  }
  await chmod(join(root, 'a.txt'), 0o600);
  await chmod(join(root, 'sub/b.bin'), 0o755);
}
