import Database from 'better-sqlite3';
import { unlink } from 'node:fs/promises';
import { messageOf, PersistdError } from '../errors.js';
import { SQLITE_SIDE_SUFFIXES } from './temp-files.js';

/** Row count of one table of a checked database. */
export interface TableRowCount {
  table: string;
  rows: number;
}

/** Options of `checkDatabaseFile`. */
export interface CheckOptions {
  /** `PRAGMA quick_check` instead of `integrity_check` (much faster on large databases, skips index contents). */
  quick?: boolean;
  /** Also count the rows of every table. */
  countRows?: boolean;
  /** Pages the file must have, from the manifest. */
  expectedPageCount?: number;
  /** For messages: what this file is (e.g. `snapshot <id> of app`). */
  label: string;
}

/**
 * Runs SQLite's own consistency check on a database file nobody else uses (a restored temp file),
 * and optionally counts rows per table. Throws kind `integrity` when SQLite reports a problem. The
 * SQLite side files the check creates (`-wal`, `-shm` of a WAL-mode image) are removed afterwards.
 * Synchronous inside: callers run it on files of bounded size or accept the stall (restore, verify).
 */
export async function checkDatabaseFile(path: string, options: CheckOptions): Promise<TableRowCount[]> {
  const fail = (why: string, cause?: unknown): PersistdError =>
    new PersistdError(`${options.label} does not verify: ${why}`, {
      kind: 'integrity',
      op: 'check database',
      path,
      cause,
      hint: 'the snapshot is damaged; restore an older one with --snapshot <id> (`persistd snapshots` lists them)',
    });
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const pageCount = db.pragma('page_count', { simple: true }) as number;
    if (options.expectedPageCount !== undefined && pageCount !== options.expectedPageCount) {
      throw fail(`it has ${pageCount} pages, the manifest says ${options.expectedPageCount}`);
    }
    const results = db.pragma(options.quick === true ? 'quick_check' : 'integrity_check') as Record<string, string>[];
    const problems = results.map((row) => Object.values(row)[0]).filter((text) => text !== 'ok');
    if (problems.length > 0)
      throw fail(`${options.quick === true ? 'quick_check' : 'integrity_check'} says ${problems.slice(0, 5).join('; ')}`);
    if (options.countRows !== true) return [];
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all() as string[];
    return tables.map((table) => ({
      table,
      rows: db!
        .prepare(`SELECT count(*) FROM "${table.replace(/"/g, '""')}"`)
        .pluck()
        .get() as number,
    }));
  } catch (err) {
    if (err instanceof PersistdError) throw err;
    throw fail(messageOf(err), err);
  } finally {
    db?.close();
    await Promise.all(SQLITE_SIDE_SUFFIXES.map((s) => unlink(path + s).catch(() => undefined)));
  }
}
