import { open, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { localWriteError } from '../download-snapshot.js';
import { releaseTempPath, SQLITE_SIDE_SUFFIXES } from '../temp-files.js';

/**
 * Renames the verified `temp` over `path`, atomically: the old file's `-wal`/`-shm`/`-journal` are
 * moved aside first (a stale WAL would be replayed into the new file) and moved back if the rename
 * fails, then the directory is fsynced. The same steps as `restoreDatabase`'s install.
 */
export async function installDatabaseFile(temp: string, path: string): Promise<void> {
  const aside: [string, string][] = [];
  try {
    for (const suffix of SQLITE_SIDE_SUFFIXES) {
      const side = path + suffix;
      if (!(await exists(side))) continue;
      const parked = `${temp}.old${suffix}`;
      await rename(side, parked);
      aside.push([side, parked]);
    }
    await rename(temp, path);
  } catch (err) {
    for (const [side, parked] of aside) await rename(parked, side).catch(() => undefined);
    throw localWriteError(err, path);
  }
  const handle = await open(dirname(path), 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  for (const [, parked] of aside) await releaseTempPath(parked);
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
