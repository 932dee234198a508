import Database from 'better-sqlite3';
import { open, stat } from 'node:fs/promises';
import { PersistdError } from '../errors.js';
import { isBusyError, sqliteOpenError } from './sqlite-errors.js';

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** What `inspectDatabase` found at a path. */
export type DatabaseInspection =
  | { exists: false; isSqlite: false }
  | {
      exists: true;
      isSqlite: true;
      /** Bytes of the main file (without its WAL). */
      size: number;
      /** `wal` when the file is in WAL mode; `rollback` otherwise (the exact rollback mode is a per-connection setting the file does not record). */
      journalMode: 'wal' | 'rollback' | 'empty';
      pageSize: number;
      /** Pages according to the file header (the WAL may hold more). */
      pageCount: number;
      /** Whether a `-wal` file exists beside it. */
      walExists: boolean;
      /** `sqlite_version()` of the library persistd uses. */
      sqliteVersion: string;
      /** Whether SQLite could read its schema (false when a lock kept us out just now). */
      schemaReadable: boolean;
    };

/**
 * Looks at a database path for `doctor` and config validation, reading the header and opening it
 * read-only without waiting for locks. A missing path is `{ exists: false }` (it may be created
 * later); a file that is not SQLite, or a directory, is a PersistdError kind `usage`.
 */
export async function inspectDatabase(path: string): Promise<DatabaseInspection> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile())
      throw new PersistdError(`${path} is not a file`, {
        kind: 'usage',
        op: 'inspect database',
        path,
        hint: '--db takes the path of the database file',
      });
    size = s.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, isSqlite: false };
    throw err;
  }
  const walExists = await stat(`${path}-wal`).then(
    () => true,
    () => false,
  );
  let sqliteVersion = '';
  if (size === 0) {
    return {
      exists: true,
      isSqlite: true,
      size,
      journalMode: 'empty',
      pageSize: 0,
      pageCount: 0,
      walExists,
      sqliteVersion: versionOfLibrary(),
      schemaReadable: true,
    };
  }
  const header = Buffer.alloc(100);
  const handle = await open(path, 'r');
  try {
    await handle.read(header, 0, 100, 0);
  } finally {
    await handle.close();
  }
  if (size < 100 || !header.subarray(0, 16).equals(MAGIC)) {
    throw new PersistdError(`${path} is not a SQLite database (it does not start with the SQLite header)`, {
      kind: 'usage',
      op: 'inspect database',
      path,
      hint: 'check that --db points at the database file itself, not its -wal, a dump, or another file',
    });
  }
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const journalMode = header[18] === 2 && header[19] === 2 ? 'wal' : 'rollback';
  const pageCount = header.readUInt32BE(28);
  sqliteVersion = versionOfLibrary();
  let schemaReadable = true;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
    db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
  } catch (err) {
    if (!isBusyError(err)) throw sqliteOpenError(err, path);
    schemaReadable = false;
  } finally {
    db?.close();
  }
  return { exists: true, isSqlite: true, size, journalMode, pageSize, pageCount, walExists, sqliteVersion, schemaReadable };
}

function versionOfLibrary(): string {
  const db = new Database(':memory:');
  try {
    return db.prepare('SELECT sqlite_version()').pluck().get() as string;
  } finally {
    db.close();
  }
}
