import { join } from 'node:path';
import { LOOSE_TREE } from '../format/files-keys.js';

// `filesDir` is the folder of one replica's file caches (`files-state-dir.ts`): `<stateDir>/files/<replica>`.

/** `<filesDir>/<name>.index`: where the local index of a tree lives. */
export function treeIndexPath(filesDir: string, name: string): string {
  return join(filesDir, `${name}.index`);
}

/** `<filesDir>/_loose/<name>.index`: the index of one loose file. */
export function looseIndexPath(filesDir: string, name: string): string {
  return join(filesDir, LOOSE_TREE, `${name}.index`);
}

/** `<filesDir>/<name>.dirs.json`: the folder manifest as last uploaded or restored, in local terms. */
export function treeDirsPath(filesDir: string, name: string): string {
  return join(filesDir, `${name}.dirs.json`);
}
