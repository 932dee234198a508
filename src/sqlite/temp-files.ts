import { randomBytes } from 'node:crypto';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Temp files this process is using now; any other file with our pid in its name is left over from a crash. */
const active = new Set<string>();
const cleanedDirs = new Map<string, Promise<void>>();

/** SQLite creates these next to a database file; a temp database's siblings are temp files too. */
export const SQLITE_SIDE_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

/**
 * A fresh temp path `<dir>/<prefix>-<pid>-<random><suffix>`, registered as in use until `releaseTempPath`.
 * The pid in the name lets a later start tell a crashed process's files from a live one's.
 */
export function allocateTempPath(dir: string, prefix: string, suffix = ''): string {
  const path = join(dir, `${prefix}-${process.pid}-${randomBytes(8).toString('hex')}${suffix}`);
  active.add(path);
  return path;
}

/** Deletes a temp file and the SQLite side files next to it, and forgets it; missing files are fine. */
export async function releaseTempPath(path: string): Promise<void> {
  await Promise.all([path, ...SQLITE_SIDE_SUFFIXES.map((s) => path + s)].map((p) => unlink(p).catch(() => undefined)));
  active.delete(path);
}

/**
 * Deletes files in `dir` named by `allocateTempPath(dir, prefix)` whose process is gone, or which
 * carry our own pid but are not in use (a pid reused after a container restart). Returns how many.
 */
export async function removeStaleTempFiles(dir: string, prefix: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  const pattern = new RegExp(`^${escapeRegExp(prefix)}-(\\d+)-[0-9a-f]{16}`);
  let removed = 0;
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    const path = join(dir, name);
    const owner = join(dir, match[0]);
    const stale = pid === process.pid ? !active.has(owner) && !isActiveBase(path) : !isProcessAlive(pid);
    if (!stale) continue;
    await unlink(path).then(
      () => removed++,
      () => undefined,
    );
  }
  return removed;
}

/**
 * Creates `<stateDir>/tmp` and, once per process, removes stale SQLite temp files from it
 * (a snapshot or verify interrupted by a crash). Returns the directory.
 */
export async function sqliteTempDir(stateDir: string): Promise<string> {
  const dir = join(stateDir, 'tmp');
  let cleaning = cleanedDirs.get(dir);
  if (!cleaning) {
    cleaning = (async () => {
      await mkdir(dir, { recursive: true });
      await removeStaleTempFiles(dir, SNAPSHOT_TEMP_PREFIX);
      await removeStaleTempFiles(dir, VERIFY_TEMP_PREFIX);
    })();
    cleanedDirs.set(dir, cleaning);
    cleaning.catch(() => cleanedDirs.delete(dir));
  }
  await cleaning;
  // The state directory may have been deleted since (a volume swapped, a clean-up script): recreate it.
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Prefix of snapshot copies in `<stateDir>/tmp`. */
export const SNAPSHOT_TEMP_PREFIX = 'sqlite-snap';
/** Prefix of databases restored by `verify` in `<stateDir>/tmp`. */
export const VERIFY_TEMP_PREFIX = 'sqlite-verify';

function isActiveBase(path: string): boolean {
  for (const p of active) if (path.startsWith(p)) return true;
  return false;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
