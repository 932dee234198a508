import { mkdir, open, rename, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { PersistdError } from '../errors.js';
import { assertDatabaseName } from '../format/db-keys.js';
import type { SnapshotManifest } from '../format/db-manifest.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkDatabaseFile } from './check-database.js';
import { downloadSnapshot, localWriteError } from './download-snapshot.js';
import { resolveSnapshot } from './snapshot-catalog.js';
import { allocateTempPath, releaseTempPath, removeStaleTempFiles, SQLITE_SIDE_SUFFIXES } from './temp-files.js';

/** Options of `restoreDatabase`. */
export interface RestoreOptions {
  store: ObjectStore;
  name: string;
  /** The database's configured local path. */
  target: string;
  /** Restore here instead of `target` (`-o`). */
  output?: string;
  /** The newest snapshot taken at or before this time. */
  timestamp?: Date;
  /** A snapshot id (`<generation>/<seq>`, or a unique `<seq>`). */
  snapshotId?: string;
  /** Replace an existing database. */
  force?: boolean;
  /** When the database exists, do nothing (no request made). */
  ifNotExists?: boolean;
  /** When there is no backup, succeed with `reason: 'no-backup'` instead of failing. */
  ifReplicaExists?: boolean;
  /** `PRAGMA quick_check` instead of `integrity_check`. */
  quickCheck?: boolean;
  stateDir: string;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What `restoreDatabase` did. */
export type RestoreResult =
  | { restored: true; path: string; snapshotId: string; manifest: SnapshotManifest; durationMs: number }
  | { restored: false; path: string; reason: 'exists' | 'no-backup' };

const TEMP_PREFIX_OF = (path: string): string => `.${basename(path)}.persistd-restore`;

/**
 * Restores a database from the store, verified and atomic: downloads into a temp file beside the
 * target, checks both sha256, the page count and `integrity_check`, fsyncs, renames it into place,
 * fsyncs the directory and removes the old file's `-wal`/`-shm`/`-journal`. Any failure leaves the
 * existing file untouched and removes the temp file. Never replaces an existing file unless `force`.
 */
export async function restoreDatabase(options: RestoreOptions): Promise<RestoreResult> {
  const { store, name, signal } = options;
  assertDatabaseName(name);
  const logger = options.logger ?? silentLogger();
  const started = Date.now();
  const path = resolve(options.output ?? options.target);
  const dir = dirname(path);
  if (await exists(path)) {
    if (options.ifNotExists === true) {
      logger.info({ db: name, path }, 'database exists, not restoring');
      return { restored: false, path, reason: 'exists' };
    }
    if (options.force !== true) {
      throw new PersistdError(`not restoring ${name}: ${path} already exists`, {
        kind: 'usage', op: 'restore', path,
        hint: 'pass --force to replace it, --if-not-exists to keep it, or -o <path> to restore elsewhere',
      });
    }
  }
  const chosen = await resolveSnapshot(store, name, { timestamp: options.timestamp, snapshotId: options.snapshotId }, signal);
  if (!chosen) {
    const what = options.snapshotId !== undefined ? `snapshot ${options.snapshotId}` : options.timestamp ? `a snapshot at or before ${options.timestamp.toISOString()}` : 'a snapshot';
    if (options.ifReplicaExists === true && options.snapshotId === undefined && options.timestamp === undefined) {
      logger.info({ db: name }, 'no backup of this database yet, nothing to restore');
      return { restored: false, path, reason: 'no-backup' };
    }
    throw new PersistdError(`cannot restore ${name}: the store has no ${what} of it`, {
      kind: 'no-backup', op: 'restore', path: store.description,
      hint: 'check the database name and the store URL (`persistd snapshots` lists what exists)',
    });
  }
  const { entry, manifest } = chosen;

  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw localWriteError(err, dir);
  }
  await removeStaleTempFiles(dir, TEMP_PREFIX_OF(path));
  const temp = allocateTempPath(dir, TEMP_PREFIX_OF(path), '.tmp');
  try {
    await downloadSnapshot(store, name, entry, manifest, temp, signal);
    await checkDatabaseFile(temp, { quick: options.quickCheck, expectedPageCount: manifest.db.pageCount, label: `snapshot ${entry.id} of ${name}` });
    signal?.throwIfAborted();
    if (options.force !== true && (await exists(path))) {
      throw new PersistdError(`not restoring ${name}: ${path} appeared while the snapshot was downloading`, {
        kind: 'usage', op: 'restore', path, hint: 'stop whatever creates it, or pass --force',
      });
    }
    await installFile(temp, path);
  } catch (err) {
    await releaseTempPath(temp);
    throw err;
  }
  await releaseTempPath(temp);
  const durationMs = Date.now() - started;
  logger.info({ db: name, path, snapshot: entry.id, bytes: manifest.db.size, ms: durationMs }, 'database restored');
  return { restored: true, path, snapshotId: entry.id, manifest, durationMs };
}

/**
 * Renames the verified `temp` over `path`. The old file's side files are moved aside first (a stale
 * WAL or hot journal would be replayed into the new file and corrupt it) and moved back if the
 * rename fails, so a failure leaves the old database whole.
 */
async function installFile(temp: string, path: string): Promise<void> {
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
  await fsyncDirectory(dirname(path));
  for (const [, parked] of aside) await releaseTempPath(parked);
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
