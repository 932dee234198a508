import { isReservedRelPath } from '../format/files-keys.js';
import { relPathOfKeyText } from './local-name.js';

/** Why a remote relative path (a key text, `format/files-names.ts`) was refused, or undefined when it is safe to write under the tree root. */
export function unsafeRelPathReason(keyText: string): string | undefined {
  const local = relPathOfKeyText(keyText);
  if ('why' in local) return local.why;
  if (isReservedRelPath(local.relPath)) return 'is in the reserved `.persistd/` folder';
  return undefined;
}
