import { stat } from 'node:fs/promises';
import { PermanentStoreError, StoreError, TransientStoreError } from './store-errors.js';

/** errno codes that may pass on their own (busy, out of descriptors, an I/O hiccup on a network mount). */
const TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EIO', 'ETIMEDOUT', 'ESTALE', 'EINTR']);

/** Turns a Node fs error of an FsStore operation into the matching StoreError, with a hint a user can act on. */
export async function mapFsError(err: unknown, op: string, root: string, key?: string): Promise<Error> {
  if (err instanceof StoreError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return err instanceof Error ? err : new Error(String(err));
  const where = key === undefined ? root : `${key} (in ${root})`;
  const base = { op, path: key ?? root, cause: err };
  if (code === 'ENOENT' && !(await exists(root))) {
    return new PermanentStoreError(`${op} failed: the store directory ${root} does not exist`, {
      ...base,
      hint: 'create the directory (or mount the volume) or fix the file:// URL',
    });
  }
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return new PermanentStoreError(`${op} ${where} failed: permission denied`, {
        ...base,
        hint: `give the user running persistd read and write access to ${root}`,
      });
    case 'EROFS':
      return new PermanentStoreError(`${op} ${where} failed: the file system is read-only`, {
        ...base,
        hint: `mount ${root} read-write`,
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new StoreError(`${op} ${where} failed: no space left on the device`, false, {
        ...base,
        hint: `free space on the disk that holds ${root}, or give it more room`,
      });
    case 'ENAMETOOLONG':
      return new PermanentStoreError(`${op} ${where} failed: the key is too long for this file system`, base);
    case 'ENOTDIR':
    case 'EISDIR':
    case 'ENOTEMPTY':
    case 'EEXIST':
      return new PermanentStoreError(`${op} ${where} failed: the key clashes with another key used as a directory (${code})`, {
        ...base,
        hint: 'a file:// store cannot hold both `a` and `a/b`; delete one of them',
      });
    default:
      if (TRANSIENT_CODES.has(code)) return new TransientStoreError(`${op} ${where} failed: ${code}`, base);
      return new PermanentStoreError(`${op} ${where} failed: ${code}`, base);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
