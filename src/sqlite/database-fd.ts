import { fstatSync, openSync, statSync } from 'node:fs';

/**
 * Read-only descriptors of database files, one per file (path and inode), opened once and never
 * closed. POSIX record locks belong to the process, not the descriptor: closing any descriptor of a
 * file drops every lock this process holds on it, SQLite's included. A SQLite connection that lost its
 * shared lock lets the app's last connection believe it is alone and checkpoint and delete the WAL
 * under persistd's read transaction. So persistd reads database files (header bytes, snapshot images)
 * only through these, and keeps them for the life of the process: a few per database at most (a new
 * one only when the file at the path is replaced).
 */
const opened = new Map<string, number>();

/** A read-only descriptor of the file now at `path`, kept open for the life of the process. Throws ENOENT when there is none. */
export function databaseFd(path: string): number {
  const st = statSync(path);
  const key = `${path}\0${st.dev}:${st.ino}`;
  const known = opened.get(key);
  if (known !== undefined) return known;
  const fd = openSync(path, 'r');
  const at = fstatSync(fd);
  // Replaced between the stat and the open: file it under what was opened.
  opened.set(`${path}\0${at.dev}:${at.ino}`, fd);
  return fd;
}
