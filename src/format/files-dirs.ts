/**
 * The folder manifest of a tree, `files/<name>/.persistd/dirs.json` (docs/FORMAT.md, "Folders"):
 * `{"persistd":"files-dirs","v":1,"dirs":[["<relative dir>","<mode octal>",<mtimeMs>],...]}`, sorted by path,
 * `""` being the tree root. Readers ignore rows they cannot parse and fields after the third.
 */

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

/** Parses a manifest; undefined when it is not one (then it is ignored, as if absent). Malformed rows are skipped. */
export function parseDirs(text: string): Map<string, DirStat> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const doc = parsed as { persistd?: unknown; v?: unknown; dirs?: unknown };
  if (doc?.persistd !== 'files-dirs' || doc.v !== 1 || !Array.isArray(doc.dirs)) return undefined;
  const dirs = new Map<string, DirStat>();
  for (const row of doc.dirs as unknown[]) {
    if (!Array.isArray(row)) continue;
    const [path, mode, mtimeMs] = row as unknown[];
    if (typeof path !== 'string' || typeof mode !== 'string' || !/^[0-7]{1,4}$/.test(mode) || typeof mtimeMs !== 'number' || !(mtimeMs >= 0)) continue;
    dirs.set(path, { mode: Number.parseInt(mode, 8), mtimeMs });
  }
  return dirs;
}
