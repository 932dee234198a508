import { basename, dirname, resolve } from 'node:path';
import {
  dirsManifestKey,
  isReservedRelPath,
  LOOSE_TREE,
  looseFileKey,
  parseTrashKey,
  trashKey,
  trashPrefix,
  treeObjectKey,
  treePrefix,
} from '../format/files-keys.js';
import { looseIndexPath, treeDirsPath, treeIndexPath } from './index-path.js';
import { keyTextOf, relPathOfKeyText } from './local-name.js';
import { PathFilter, type PathFilterOptions } from './path-filter.js';

/** Where a synced set of local files lives locally and remotely; lets one TreeSync serve trees and loose files. */
export interface TreeLayout {
  /** What to call it in logs. */
  label: string;
  /** Absolute local folder that is watched. */
  root: string;
  /** Watch depth below root (undefined: unlimited). */
  depth: number | undefined;
  filter: Pick<PathFilter, 'accepts' | 'skipsDir'>;
  /** The local index's file in one replica's cache folder (`files-state-dir.ts`). */
  indexPath(filesDir: string): string;
  objectKey(relPath: string): string;
  /** Prefix that lists every object of this set (and perhaps others: `ownsKey` tells). */
  listPrefix: string;
  /** Whether a listed key is one of this set's files (not persistd's own objects, not another loose file). */
  ownsKey(key: string): boolean;
  trashKey(relPath: string, deletedAt: Date): string;
  trashPrefix: string;
  parseTrash(key: string): { deletedAt: Date; relPath: string } | undefined;
  /** The folder manifest's key and its local copy; absent for loose files (no folders of their own). */
  dirs?: { key: string; localPath(filesDir: string): string };
}

/** Layout of a protected directory: `files/<name>/<relPath>`. */
export function directoryLayout(name: string, root: string, filter: PathFilterOptions = {}): TreeLayout {
  const prefix = treePrefix(name);
  return {
    label: name,
    root: resolve(root),
    depth: undefined,
    filter: new PathFilter(filter),
    indexPath: (filesDir) => treeIndexPath(filesDir, name),
    listPrefix: prefix,
    ownsKey: (key) => key.startsWith(prefix) && key.length > prefix.length && !isReservedRelPath(key.slice(prefix.length)),
    // A relative path that is not a valid text is an index entry of persistd 0.1, whose key was the path as it was.
    objectKey: (rel) => treeObjectKey(name, keyTextOf(rel) ?? rel),
    trashKey: (rel, at) => trashKey(name, at, keyTextOf(rel) ?? rel),
    trashPrefix: trashPrefix(name),
    parseTrash: (key) => {
      const parsed = parseTrashKey(name, key);
      if (parsed === undefined) return undefined;
      const local = relPathOfKeyText(parsed.relPath);
      return { deletedAt: parsed.deletedAt, relPath: 'relPath' in local ? local.relPath : parsed.relPath };
    },
    dirs: { key: dirsManifestKey(name), localPath: (filesDir) => treeDirsPath(filesDir, name) },
  };
}

/** Layout of a loose file: its parent folder is watched for just that name; the object is `files/_loose/<name>`. */
export function looseFileLayout(name: string, path: string): TreeLayout {
  const file = basename(path);
  const key = looseFileKey(name);
  return {
    label: `${LOOSE_TREE}/${name}`,
    root: resolve(dirname(path)),
    depth: 0,
    filter: { accepts: (rel) => rel === file, skipsDir: () => true },
    indexPath: (filesDir) => looseIndexPath(filesDir, name),
    objectKey: () => key,
    listPrefix: key,
    ownsKey: (listed) => listed === key,
    trashKey: (_rel, at) => trashKey(LOOSE_TREE, at, name),
    trashPrefix: trashPrefix(LOOSE_TREE),
    parseTrash: (key) => {
      const parsed = parseTrashKey(LOOSE_TREE, key);
      return parsed?.relPath === name ? { deletedAt: parsed.deletedAt, relPath: file } : undefined;
    },
  };
}
