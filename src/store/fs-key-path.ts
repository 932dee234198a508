import { join } from 'node:path';
import { PermanentStoreError } from './store-errors.js';

/** Top-level directory of an FsStore that mirrors the key tree with one sidecar (ETag, size, metadata) per object. */
export const FS_META_DIR = '.persistd-meta';
/** Top-level lock file an FsStore holds while it commits a write or a delete. */
export const FS_LOCK_FILE = '.persistd-lock';
/** Name prefix of the temp files an FsStore writes next to their final place before renaming them. */
export const FS_TEMP_PREFIX = '.persistd~tmp~';

/**
 * Whether a directory entry belongs to the store's own bookkeeping rather than to a key.
 * Top level: anything starting with `.persistd-`; anywhere: anything starting with `.persistd~`.
 * Keys that would use such names are refused by `assertFsKey`, so the two can never be confused.
 */
export function isReservedFsName(name: string, topLevel: boolean): boolean {
  return name.startsWith('.persistd~') || (topLevel && name.startsWith('.persistd-'));
}

/** Throws PermanentStoreError unless `key` maps to exactly one file below the root and to nothing the store uses itself. */
export function assertFsKey(key: string): void {
  const refuse = (why: string): never => {
    throw new PermanentStoreError(`invalid key ${JSON.stringify(key)}: ${why}`, { op: 'validate key', path: key });
  };
  if (key.length === 0) refuse('it is empty');
  if (key.includes('\0')) refuse('it contains a NUL byte');
  if (key.includes('\\')) refuse('it contains a backslash');
  if (key.startsWith('/')) refuse('it is absolute');
  const segments = key.split('/');
  segments.forEach((segment, index) => {
    if (segment === '') refuse('it has an empty path segment (a leading, trailing or doubled `/`)');
    if (segment === '.' || segment === '..') refuse('it has a `.` or `..` segment');
    if (isReservedFsName(segment, index === 0)) refuse('names starting with `.persistd-` (top level) or `.persistd~` are reserved');
  });
}

/** Where the content of `key` lives. The key must have passed `assertFsKey`. */
export function fsDataPath(root: string, key: string): string {
  return join(root, ...key.split('/'));
}

/** Where the sidecar of `key` lives: the same relative path under the metadata tree. */
export function fsMetaPath(root: string, key: string): string {
  return join(root, FS_META_DIR, ...key.split('/'));
}
