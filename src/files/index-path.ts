import { join } from 'node:path';
import { LOOSE_TREE } from '../format/files-keys.js';

/** `<stateDir>/files/<name>.index`: where the local index of a tree lives. */
export function treeIndexPath(stateDir: string, name: string): string {
  return join(stateDir, 'files', `${name}.index`);
}

/** `<stateDir>/files/_loose/<name>.index`: the index of one loose file. */
export function looseIndexPath(stateDir: string, name: string): string {
  return join(stateDir, 'files', LOOSE_TREE, `${name}.index`);
}

/** `<stateDir>/files/<name>.dirs.json`: the folder manifest as last uploaded or restored, in local terms. */
export function treeDirsPath(stateDir: string, name: string): string {
  return join(stateDir, 'files', `${name}.dirs.json`);
}
