import Database from 'better-sqlite3';
import { stat } from 'node:fs/promises';
import { messageOf, PersistdError } from '../errors.js';

/**
 * Checks a local database persistd did not restore itself before it becomes a new generation's
 * snapshot and takes the lineage pointer: `PRAGMA quick_check` on a read-only connection (the app is
 * not running yet). A damaged file must never replace the replica's good copy as "the latest", so it
 * is refused (kind `integrity`) with the way out. Synchronous inside (about a second per GiB here); it
 * runs before the app starts, when nothing else waits on the event loop. A missing file passes.
 */
export async function checkLocalDatabase(path: string): Promise<void> {
  try {
    await stat(path);
  } catch {
    return;
  }
  let problem: string | undefined;
  let cause: unknown;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const rows = db.pragma('quick_check(5)', { simple: false }) as { quick_check: string }[];
    const messages = rows.map((row) => row.quick_check).filter((message) => message !== 'ok');
    if (messages.length > 0) problem = messages.join('; ');
  } catch (err) {
    problem = messageOf(err);
    cause = err;
  } finally {
    db?.close();
  }
  if (problem === undefined) return;
  throw new PersistdError(
    `the local database ${path} is damaged (${problem}): persistd will not store it over the replica's copy, and the app was not started`,
    {
      kind: 'integrity',
      op: 'check local database',
      path,
      cause,
      hint: `move it aside (mv ${path} ${path}.damaged) and start again: run then restores the replica's copy; or repair it with sqlite3 .recover`,
    },
  );
}
