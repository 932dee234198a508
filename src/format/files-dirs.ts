/**
 * The folder manifest of a tree, `files/<name>/.persistd/dirs.json` (docs/FORMAT.md, "Folders"):
 * `{"persistd":"files-dirs","v":1,"dirs":[["<relative dir>","<mode octal>",<mtimeMs>],...]}`, sorted by path,
 * `""` being the tree root; paths are key texts (`files-names.ts`). Readers reject rows they cannot parse or whose
 * values are out of range (reported, the other rows still apply) and ignore fields after the third.
 */

import { isValidMtimeMs } from './files-metadata.js';

/** Mode and mtime of one folder. */
export interface DirStat {
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  mtimeMs: number;
}

/** Serializes a manifest deterministically (same folders, same bytes), so equal manifests compare equal as text. */
export function serializeDirs(dirs: ReadonlyMap<string, DirStat>): string {
  const rows = [...dirs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, d]) => [p, (d.mode & 0o7777).toString(8), d.mtimeMs]);
  return `${JSON.stringify({ persistd: 'files-dirs', v: 1, dirs: rows })}\n`;
}

/** A parsed manifest: the usable rows, and the rows that were not (each one reported, none used). */
export interface ParsedDirs {
  dirs: Map<string, DirStat>;
  rejected: { path: string; why: string }[];
}

/**
 * Parses a manifest; undefined when it is not one (then it is ignored, as if absent). A row that is malformed, or
 * whose mode or mtime is out of range, is rejected on its own: the other folders keep their modes and mtimes.
 */
export function parseDirs(text: string): ParsedDirs | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const doc = parsed as { persistd?: unknown; v?: unknown; dirs?: unknown };
  if (doc?.persistd !== 'files-dirs' || doc.v !== 1 || !Array.isArray(doc.dirs)) return undefined;
  const result: ParsedDirs = { dirs: new Map(), rejected: [] };
  for (const row of doc.dirs as unknown[]) {
    const [path, mode, mtimeMs] = Array.isArray(row) ? (row as unknown[]) : [];
    const shown = typeof path === 'string' ? path : (JSON.stringify(row)?.slice(0, 80) ?? String(row));
    if (typeof path !== 'string') result.rejected.push({ path: shown, why: 'not a [path, mode, mtime] row' });
    else if (typeof mode !== 'string' || !/^[0-7]{1,4}$/.test(mode))
      result.rejected.push({ path: shown, why: `mode ${JSON.stringify(mode)?.slice(0, 40)} is not octal 0-7777` });
    else if (typeof mtimeMs !== 'number' || !isValidMtimeMs(mtimeMs))
      result.rejected.push({
        path: shown,
        why: `mtime ${JSON.stringify(mtimeMs)?.slice(0, 40)} is not a time between 1970 and 9999 in ms`,
      });
    else result.dirs.set(path, { mode: Number.parseInt(mode, 8), mtimeMs });
  }
  return result;
}
