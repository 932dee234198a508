import { read } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { databaseFd } from './database-fd.js';

/** Which file a database path currently is; a different identity means the DB was deleted and recreated (or restored). */
export interface FileIdentity {
  dev: string;
  ino: string;
  birthtimeNs: string;
}

/**
 * What the database and its WAL look like on disk, cheap to read (two stats and two header reads).
 * Equal fingerprints across a restart mean nothing was committed in between: a rollback-journal commit
 * bumps the header's change counter, a WAL commit grows the WAL or rewrites it with new salts.
 */
export interface DbFingerprint {
  size: string;
  mtimeNs: string;
  /** Header bytes 24..27: the file change counter. */
  changeCounter: number;
  wal: { size: string; mtimeNs: string; salts: string } | null;
}

/** The identity of the file at `path`, or undefined when it does not exist. */
export async function readFileIdentity(path: string): Promise<FileIdentity | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    return { dev: String(s.dev), ino: String(s.ino), birthtimeNs: String(s.birthtimeNs) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether two identities name the same file. */
export function sameIdentity(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino && a.birthtimeNs === b.birthtimeNs;
}

/** Reads the fingerprint of the database at `path` (and of `<path>-wal` when there is one). */
export async function readFingerprint(path: string): Promise<DbFingerprint> {
  const s = await stat(path, { bigint: true });
  const header = await readDatabaseBytes(path, 24, 4);
  const walPath = `${path}-wal`;
  let wal: DbFingerprint['wal'] = null;
  try {
    const w = await stat(walPath, { bigint: true });
    const walHeader = await readWalBytes(walPath, 12, 20);
    wal = { size: String(w.size), mtimeNs: String(w.mtimeNs), salts: walHeader.toString('hex') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { size: String(s.size), mtimeNs: String(s.mtimeNs), changeCounter: header.length === 4 ? header.readUInt32BE(0) : -1, wal };
}

/** Whether two fingerprints are the same. */
export function sameFingerprint(a: DbFingerprint | undefined, b: DbFingerprint | undefined): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** Header bytes of the database file, through its kept descriptor (`databaseFd`: closing one would drop SQLite's locks). */
async function readDatabaseBytes(path: string, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const bytesRead = await new Promise<number>((resolve, reject) =>
    read(databaseFd(path), buffer, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
  return buffer.subarray(0, bytesRead);
}

/** Bytes of the WAL file (SQLite locks the database and the -shm file, never the -wal: a descriptor of it may be closed). */
async function readWalBytes(path: string, position: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
