import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { compareKeys } from './compare-keys.js';
import { isReservedFsName } from './fs-key-path.js';

/** One regular file found under an FsStore root, with its key. */
export interface FsKeyEntry {
  key: string;
  path: string;
}

/**
 * Yields the keys under `root` that start with `prefix` and sort after `startAfter`, in UTF-8 byte
 * order, reading one directory at a time. Siblings are ordered by name with `/` appended to
 * directories, because every key below directory `d` starts with `d/`: that makes a depth-first
 * walk produce exactly the lexicographic key order. Subtrees that cannot match are never read.
 */
export async function* walkKeys(root: string, prefix: string, startAfter?: string): AsyncGenerator<FsKeyEntry> {
  const slash = prefix.lastIndexOf('/');
  const startDirKey = slash < 0 ? '' : prefix.slice(0, slash + 1);
  yield* walkDir(root, startDirKey, prefix, startAfter);
}

async function* walkDir(root: string, dirKey: string, prefix: string, startAfter: string | undefined): AsyncGenerator<FsKeyEntry> {
  const dirPath = dirKey === '' ? root : join(root, ...dirKey.slice(0, -1).split('/'));
  let entries;
  try {
    entries = await readdir(dirPath, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A missing directory just has no keys, unless it is the root itself (the caller reports that).
    if ((code === 'ENOENT' || code === 'ENOTDIR') && dirKey !== '') return;
    throw err;
  }
  const children = entries
    .filter((entry) => (entry.isFile() || entry.isDirectory()) && !isReservedFsName(entry.name, dirKey === ''))
    .map((entry) => ({ name: entry.name, isDir: entry.isDirectory(), sortKey: dirKey + entry.name + (entry.isDirectory() ? '/' : '') }))
    .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
  for (const child of children) {
    if (child.isDir) {
      if (subtreeMayMatch(child.sortKey, prefix, startAfter)) yield* walkDir(root, child.sortKey, prefix, startAfter);
    } else if (child.sortKey.startsWith(prefix) && (startAfter === undefined || compareKeys(child.sortKey, startAfter) > 0)) {
      yield { key: child.sortKey, path: join(dirPath, child.name) };
    }
  }
}

/** Whether some key starting with `dirKey` (which ends in `/`) can start with `prefix` and sort after `startAfter`. */
function subtreeMayMatch(dirKey: string, prefix: string, startAfter: string | undefined): boolean {
  if (!dirKey.startsWith(prefix) && !prefix.startsWith(dirKey)) return false;
  if (startAfter === undefined || startAfter.startsWith(dirKey)) return true;
  return compareKeys(dirKey, startAfter) > 0;
}
