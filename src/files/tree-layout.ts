import { basename, dirname, resolve } from 'node:path';
import { dirsManifestKey, LOOSE_TREE, looseFileKey, parseTrashKey, trashKey, trashPrefix, treeObjectKey } from '../format/files-keys.js';
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
  indexPath: string;
  objectKey(relPath: string): string;
  trashKey(relPath: string, deletedAt: Date): string;
  trashPrefix: string;
  parseTrash(key: string): { deletedAt: Date; relPath: string } | undefined;
  /** The folder manifest's key and its local copy; absent for loose files (no folders of their own). */
  dirs?: { key: string; localPath: string };
}

/** Layout of a protected directory: `files/<name>/<relPath>`. */
export function directoryLayout(name: string, root: string, stateDir: string, filter: PathFilterOptions = {}): TreeLayout {
  return {
    label: name,
    root: resolve(root),
    depth: undefined,
    filter: new PathFilter(filter),
    indexPath: treeIndexPath(stateDir, name),
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
    dirs: { key: dirsManifestKey(name), localPath: treeDirsPath(stateDir, name) },
  };
}

/** Layout of a loose file: its parent folder is watched for just that name; the object is `files/_loose/<name>`. */
export function looseFileLayout(name: string, path: string, stateDir: string): TreeLayout {
  const file = basename(path);
  return {
    label: `${LOOSE_TREE}/${name}`,
    root: resolve(dirname(path)),
    depth: 0,
    filter: { accepts: (rel) => rel === file, skipsDir: () => true },
    indexPath: looseIndexPath(stateDir, name),
    objectKey: () => looseFileKey(name),
    trashKey: (_rel, at) => trashKey(LOOSE_TREE, at, name),
    trashPrefix: trashPrefix(LOOSE_TREE),
    parseTrash: (key) => {
      const parsed = parseTrashKey(LOOSE_TREE, key);
      return parsed?.relPath === name ? { deletedAt: parsed.deletedAt, relPath: file } : undefined;
    },
  };
}
