import { readdir, lstat } from 'node:fs/promises';
import type { DirStat } from '../format/files-dirs.js';
import { joinRelPath, localPathOf } from './local-name.js';
import type { PathFilter } from './path-filter.js';

/** What the scanner and the watcher need to know about a local file. */
export interface LocalStat {
  size: number;
  mtimeMs: number;
  /** Permission bits. */
  mode: number;
}

/** Result of walking a tree: regular files by relative path, and what was skipped and why. */
export interface TreeScan {
  files: Map<string, LocalStat>;
  /** Folders walked (the root is `''`), with their mode and mtime. */
  dirs: Map<string, DirStat>;
  /** Symlinks are never followed nor stored (policy: docs/FORMAT.md). */
  symlinks: string[];
  /** Folders or files that could not be read (permissions, vanished mid-scan is not listed). */
  unreadable: string[];
}

/** Converts an fs.Stats to the fields persistd compares. */
export function toLocalStat(st: { size: number; mtimeMs: number; mode: number }): LocalStat {
  return { size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 };
}

/**
 * Walks `root` without following symlinks and returns every accepted regular file. A missing root is an empty tree.
 * Names are read as bytes, so that names that are not valid UTF-8 are found too (paths: `local-name.ts`).
 */
export async function scanTree(root: string, filter: Pick<PathFilter, 'accepts' | 'skipsDir'>): Promise<TreeScan> {
  const scan: TreeScan = { files: new Map(), dirs: new Map(), symlinks: [], unreadable: [] };
  const dirs: string[] = [''];
  while (dirs.length > 0) {
    const rel = dirs.pop()!;
    const dirPath = localPathOf(root, rel)!;
    let entries;
    try {
      entries = await readdir(dirPath, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') scan.unreadable.push(rel === '' ? '.' : rel);
      continue;
    }
    const dirStat = await lstat(dirPath).catch(() => undefined);
    if (dirStat?.isDirectory()) scan.dirs.set(rel, { mode: dirStat.mode & 0o7777, mtimeMs: dirStat.mtimeMs });
    const files: string[] = [];
    for (const entry of entries) {
      const childRel = joinRelPath(rel, entry.name);
      if (entry.isDirectory()) {
        if (!filter.skipsDir(childRel)) dirs.push(childRel);
      } else if (entry.isSymbolicLink()) {
        if (filter.accepts(childRel)) scan.symlinks.push(childRel);
      } else if (entry.isFile() && filter.accepts(childRel)) files.push(childRel);
    }
    // lstat in parallel per folder: at 100k files a sequential await costs seconds.
    const stats = await Promise.all(files.map((f) => lstat(localPathOf(root, f)!).catch(() => undefined)));
    files.forEach((f, i) => {
      const st = stats[i];
      if (st?.isFile()) scan.files.set(f, toLocalStat(st));
    });
  }
  return scan;
}
