import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DirWatcher } from '../../src/files/dir-watcher.js';
import { tempDirs } from './helpers.js';
import { pollUntil } from '../support/poll.js';

const { fresh, removeAll } = tempDirs();
const watchers: DirWatcher[] = [];
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.close();
});
afterAll(removeAll);

/** A started watcher on a fresh tree, recording every event as `kind path-relative-to-root`. */
async function watched(
  build: (root: string) => Promise<void>,
  options: ConstructorParameters<typeof DirWatcher>[1] = {},
): Promise<{ root: string; watcher: DirWatcher; seen: string[] }> {
  const root = await fresh('dir-watcher');
  await build(root);
  const watcher = new DirWatcher(root, options);
  watchers.push(watcher);
  const seen: string[] = [];
  for (const kind of ['change', 'addDir', 'unlinkDir', 'error'] as const) {
    watcher.on(kind, (arg: unknown) => seen.push(`${kind} ${typeof arg === 'string' ? arg.slice(root.length + 1) : String(arg)}`));
  }
  let ready = false;
  watcher.once('ready', () => (ready = true));
  await watcher.start();
  expect(ready).toBe(true);
  return { root, watcher, seen };
}

describe('DirWatcher', () => {
  it('watches one handle per folder, not per file', async () => {
    const { watcher } = await watched(async (root) => {
      for (const d of ['a', 'a/b', 'c']) await mkdir(join(root, d), { recursive: true });
      for (let i = 0; i < 200; i++) await writeFile(join(root, ['a', 'a/b', 'c'][i % 3]!, `f${i}`), 'x');
    });
    expect(watcher.watchedDirs).toBe(4);
  });

  it('reports files written, created and removed in nested folders', async () => {
    const { root, seen } = await watched(async (root) => {
      await mkdir(join(root, 'a', 'b'), { recursive: true });
      await writeFile(join(root, 'a', 'b', 'old.txt'), 'old');
    });
    await writeFile(join(root, 'a', 'b', 'old.txt'), 'changed');
    await writeFile(join(root, 'top.txt'), 'new');
    await pollUntil('changes', () => seen.includes('change a/b/old.txt') && seen.includes('change top.txt'));
    await rm(join(root, 'a', 'b', 'old.txt'));
    await writeFile(join(root, 'a', '.tmp-1'), 'temp');
    await rename(join(root, 'a', '.tmp-1'), join(root, 'a', 'final.txt')); // write-temp-then-rename
    await pollUntil(
      'a removal and a rename',
      () => seen.filter((e) => e === 'change a/b/old.txt').length >= 2 && seen.includes('change a/final.txt'),
    );
    expect(seen.filter((e) => e.startsWith('error'))).toEqual([]);
  });

  it('reports a new folder with the files already in it, watches it, and reports folders that are gone', async () => {
    const { root, watcher, seen } = await watched(async () => undefined);
    await mkdir(join(root, 'n', 'm'), { recursive: true });
    await writeFile(join(root, 'n', 'm', 'early.txt'), 'x');
    await pollUntil(
      'the new folders',
      () => seen.includes('addDir n') && seen.includes('addDir n/m') && seen.includes('change n/m/early.txt'),
    );
    expect(watcher.watchedDirs).toBe(3);
    await writeFile(join(root, 'n', 'm', 'later.txt'), 'y');
    await pollUntil('a file in the new folder', () => seen.includes('change n/m/later.txt'));
    await rm(join(root, 'n'), { recursive: true });
    await pollUntil('the folders gone', () => seen.includes('unlinkDir n') && seen.includes('unlinkDir n/m'));
    expect(watcher.watchedDirs).toBe(1);
  });

  it('leaves skipped folders and folders below the depth unwatched', async () => {
    const { root, watcher, seen } = await watched(
      async (root) => {
        await mkdir(join(root, 'cache', 'x'), { recursive: true });
        await mkdir(join(root, 'keep', 'deep'), { recursive: true });
      },
      { skipsDir: (rel) => rel === 'cache', depth: 1 },
    );
    expect(watcher.watchedDirs).toBe(2); // the root and keep
    await writeFile(join(root, 'cache', 'x', 'f'), 'x');
    await writeFile(join(root, 'keep', 'deep', 'f'), 'x');
    await writeFile(join(root, 'keep', 'g'), 'x');
    await pollUntil('the watched file', () => seen.includes('change keep/g'));
    expect(seen.some((e) => e.includes('cache/') || e.includes('keep/deep/'))).toBe(false);
  });

  it('sends nothing after close', async () => {
    const { root, watcher, seen } = await watched(async () => undefined);
    // A second watcher on the same folder, left open: once it has seen the write, the closed one had its chance too.
    const control = new DirWatcher(root);
    watchers.push(control);
    const controlSeen: string[] = [];
    control.on('change', (abs: string) => controlSeen.push(abs.slice(root.length + 1)));
    await control.start();
    await watcher.close();
    await writeFile(join(root, 'after.txt'), 'x');
    await pollUntil('the open watcher to see the write', () => controlSeen.includes('after.txt'));
    expect(seen).toEqual([]);
    expect(watcher.watchedDirs).toBe(0);
  });
});
