import { dirname } from 'node:path';
import { messageOf, PersistdError } from '../errors.js';

/** Whether a better-sqlite3 error means "locked by another connection, try again later". */
export function isBusyError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Turns a better-sqlite3 error on a local database into a PersistdError users can act on; PersistdErrors pass through. */
export function sqliteOpenError(err: unknown, path: string): PersistdError {
  if (err instanceof PersistdError) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const message = messageOf(err);
  if (code === 'SQLITE_NOTADB') {
    return new PersistdError(`${path} is not a SQLite database: ${message}`, {
      kind: 'usage',
      op: 'open database',
      path,
      cause: err,
      hint: 'check that --db points at the database file itself (not its -wal, a directory, or another file)',
    });
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new PersistdError(`${path} is corrupt: ${message}`, {
      kind: 'integrity',
      op: 'open database',
      path,
      cause: err,
      hint: 'restore it from a snapshot with `persistd restore --force`',
    });
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_READONLY')) {
    return new PersistdError(`cannot open ${path}: ${message}`, {
      kind: 'usage',
      op: 'open database',
      path,
      cause: err,
      hint: 'check that the file and its directory are readable and the directory is writable (SQLite needs to create -shm files)',
    });
  }
  return new PersistdError(`SQLite failed on ${path}: ${message}`, { kind: 'internal', op: 'sqlite', path, cause: err });
}

/**
 * An error of SQLite's backup into `dest` (a temp copy in the state directory) while snapshotting
 * `dbPath`: names the copy's path, which is where the problem is (a missing, full or read-only state
 * directory), not the database's.
 */
export function snapshotCopyError(err: unknown, dbPath: string, dest: string): PersistdError {
  if (err instanceof PersistdError) return err;
  const message = messageOf(err);
  return new PersistdError(`cannot copy ${dbPath} to ${dest} for a snapshot: ${message}`, {
    kind: 'internal',
    op: 'snapshot',
    path: dest,
    cause: err,
    hint: `check that the state directory ${dirname(dirname(dest))} exists, is writable and has room for a copy of the database (--state-dir)`,
  });
}
