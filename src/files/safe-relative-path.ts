import { isReservedRelPath } from '../format/files-keys.js';

/** Why a remote relative path was refused, or undefined when it is safe to write under the tree root. */
export function unsafeRelPathReason(relPath: string): string | undefined {
  if (relPath === '') return 'empty path';
  if (relPath.includes('\0')) return 'contains a NUL byte';
  if (relPath.includes('\\')) return 'contains a backslash';
  if (relPath.startsWith('/')) return 'is absolute';
  if (/^[A-Za-z]:/.test(relPath)) return 'starts with a drive letter';
  for (const segment of relPath.split('/')) {
    if (segment === '') return 'has an empty segment (`//` or trailing `/`)';
    if (segment === '.' || segment === '..') return `has a \`${segment}\` segment`;
    if (Buffer.byteLength(segment) > 255) return 'has a segment longer than 255 bytes';
  }
  if (isReservedRelPath(relPath)) return 'is in the reserved `.persistd/` folder';
  return undefined;
}
