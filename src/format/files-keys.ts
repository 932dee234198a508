/**
 * Remote key layout of protected directories and loose files (docs/FORMAT.md, "Directories and loose files").
 * Keys are relative to the store root; writer and reader both go through these functions.
 */

/** Root of everything persistd writes for directories and loose files. */
export const FILES_ROOT = 'files/';

/** Tree name under which loose files live: `files/_loose/<name>`. Directory names must not use it. */
export const LOOSE_TREE = '_loose';

/**
 * Relative path segment reserved inside every tree for persistd's own objects (trash).
 * User files at `<root>/.persistd/...` are never uploaded (that folder is persistd's state dir), so it cannot collide.
 */
export const RESERVED_SEGMENT = '.persistd';

/** Whether a tree name is unusable for a protected directory (reserved, empty, or not a single path segment). */
export function isReservedTreeName(name: string): boolean {
  return (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name === LOOSE_TREE ||
    name.startsWith(RESERVED_SEGMENT) ||
    name.includes('/') ||
    name.includes('\\') ||
    name.includes('\0')
  );
}

/** `files/<name>/`: the prefix listing every object of one tree (including its reserved `.persistd/` part). */
export function treePrefix(name: string): string {
  return `${FILES_ROOT}${name}/`;
}

/** Key of one file of a tree; `relPath` uses `/` separators and is already validated. */
export function treeObjectKey(name: string, relPath: string): string {
  return `${treePrefix(name)}${relPath}`;
}

/** Key of a loose file: `files/_loose/<name>`. */
export function looseFileKey(name: string): string {
  return `${treePrefix(LOOSE_TREE)}${name}`;
}

/** `files/<name>/.persistd/dirs.json`: modes and mtimes of the tree's folders (absent in replicas written before it existed). */
export function dirsManifestKey(name: string): string {
  return `${treePrefix(name)}${RESERVED_SEGMENT}/dirs.json`;
}

/** `files/<name>/.persistd/trash/`: where deleted objects are kept for `keepDeleted`. */
export function trashPrefix(name: string): string {
  return `${treePrefix(name)}${RESERVED_SEGMENT}/trash/`;
}

/** Key of a deleted object kept in the trash: `.../trash/<yyyymmddThhmmssmmmZ>/<relPath>`. */
export function trashKey(name: string, deletedAt: Date, relPath: string): string {
  return `${trashPrefix(name)}${formatTrashStamp(deletedAt)}/${relPath}`;
}

/** Sortable, filesystem-safe UTC stamp (no `:`), e.g. `20261122T120000123Z`. */
export function formatTrashStamp(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, '');
}

/** Parses a trash stamp back to a Date, or undefined when it is not one. */
export function parseTrashStamp(stamp: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(stamp);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, ms] = m;
  const at = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** Splits a trash key into its deletion time and relative path, or undefined when malformed. */
export function parseTrashKey(name: string, key: string): { deletedAt: Date; relPath: string } | undefined {
  const prefix = trashPrefix(name);
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const deletedAt = parseTrashStamp(rest.slice(0, slash));
  const relPath = rest.slice(slash + 1);
  if (!deletedAt || relPath === '') return undefined;
  return { deletedAt, relPath };
}

/** Whether a path relative to a tree root is in persistd's reserved part (never uploaded, never restored). */
export function isReservedRelPath(relPath: string): boolean {
  return relPath === RESERVED_SEGMENT || relPath.startsWith(`${RESERVED_SEGMENT}/`);
}
