import { mkdir, open, rename, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { PersistdError } from '../errors.js';
import { assertDatabaseName } from '../format/db-keys.js';
import type { SnapshotManifest } from '../format/db-manifest.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { localWriteError } from './download-snapshot.js';
import type { DatabaseCatalog } from './generation-catalog.js';
import { rebuildDatabase, type RebuildResult } from './rebuild-database.js';
import { chooseRestorePoint } from './restore-point.js';
import { allocateTempPath, releaseTempPath, removeStaleTempFiles, SQLITE_SIDE_SUFFIXES } from './temp-files.js';

/** Options of `restoreDatabase`. */
export interface RestoreOptions {
  store: ObjectStore;
  name: string;
  /** The database's configured local path. */
  target: string;
  /** Restore here instead of `target` (`-o`). */
  output?: string;
  /** The state as of the last transaction shipped (or snapshot taken) at or before this time. */
  timestamp?: Date;
  /** Restore from this generation (its latest state, or its state at `timestamp`). */
  generation?: string;
  /** Exactly this snapshot, without later WAL segments (`<generation>/<seq>`, or a unique `<seq>`). */
  snapshotId?: string;
  /** The lineage pointer's generation, "the latest" when it has a restorable state (see `chooseRestorePoint`). */
  preferredGeneration?: string;
  /** The database's listing, when it was started earlier (`prefetchRestore`); listed here otherwise. */
  catalog?: Promise<DatabaseCatalog>;
  /** Replace an existing database. */
  force?: boolean;
  /** When the database exists, do nothing (no request made). */
  ifNotExists?: boolean;
  /** When there is no backup, succeed with `reason: 'no-backup'` instead of failing. */
  ifReplicaExists?: boolean;
  /** `PRAGMA quick_check` instead of `integrity_check`. */
  quickCheck?: boolean;
  /** WAL segments downloading at once (default 6). */
  concurrency?: number;
  /** Unused by the restore itself; kept so that every restore caller passes the same options. */
  stateDir?: string;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What `restoreDatabase` did. */
export type RestoreResult =
  | {
      restored: true;
      path: string;
      snapshotId: string;
      manifest: SnapshotManifest;
      /** WAL segments and transactions applied after the snapshot. */
      segmentsApplied: number;
      transactionsApplied: number;
      /** Every transaction shipped up to this time is restored (the snapshot's time when no segment applied). */
      restoredTo: Date;
      /** The WAL position restored to (last applied frame, else the snapshot's); null for a snapshot without one. */
      wal: { epoch: number; frame: number } | null;
      /** Why the restore stopped before the newest shipped state (a missing or damaged WAL segment). */
      incomplete?: string;
      /** (format 2) Continuations the restore followed down to a full snapshot. */
      chainDepth?: number;
      /** Why another generation than the lineage pointer's was restored (a pointer to a missing generation). */
      notice?: string;
      durationMs: number;
    }
  | { restored: false; path: string; reason: 'exists' | 'no-backup' };

const TEMP_PREFIX_OF = (path: string): string => `.${basename(path)}.persistd-restore`;

/**
 * Restores a database from the store, verified and atomic: the snapshot chosen by
 * `chooseRestorePoint` is downloaded into a temp file beside the target (both sha256 checked), the
 * WAL segments of its generation shipped after it (and at or before `timestamp`) are applied and
 * verified frame by frame, then `integrity_check`, fsync, a rename into place and an fsync of the
 * directory; the old file's `-wal`/`-shm`/`-journal` are moved aside. A missing or damaged segment
 * stops at the last whole transaction before it (`incomplete`, and a warning), or fails when
 * `timestamp` asks for a later time. Any failure leaves the existing file untouched and removes
 * the temp file. Never replaces an existing file unless `force`.
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
      // A restore killed half-way may have left its temp file beside the database.
      await removeStaleTempFiles(dir, TEMP_PREFIX_OF(path));
      logger.info({ db: name, path }, 'database exists, not restoring');
      return { restored: false, path, reason: 'exists' };
    }
    if (options.force !== true) {
      throw new PersistdError(`not restoring ${name}: ${path} already exists`, {
        kind: 'usage',
        op: 'restore',
        path,
        hint: 'pass --force to replace it, --if-not-exists to keep it, or -o <path> to restore elsewhere',
      });
    }
  }
  const point = await chooseRestorePoint(
    store,
    name,
    {
      timestamp: options.timestamp,
      generation: options.generation,
      snapshotId: options.snapshotId,
      preferredGeneration: options.preferredGeneration,
    },
    signal,
    options.catalog,
  );
  if (!point) {
    const what =
      options.snapshotId !== undefined
        ? `snapshot ${options.snapshotId}`
        : [
            options.generation !== undefined ? `snapshot of generation ${options.generation}` : 'snapshot',
            options.timestamp ? `at or before ${options.timestamp.toISOString()}` : '',
          ]
            .filter(Boolean)
            .join(' ');
    if (
      options.ifReplicaExists === true &&
      options.snapshotId === undefined &&
      options.timestamp === undefined &&
      options.generation === undefined
    ) {
      logger.info({ db: name }, 'no backup of this database yet, nothing to restore');
      return { restored: false, path, reason: 'no-backup' };
    }
    throw new PersistdError(`cannot restore ${name}: the store has no ${what} of it`, {
      kind: 'no-backup',
      op: 'restore',
      path: store.description,
      hint: 'check the database name, the store URL, the time and the generation (`persistd snapshots` lists what exists)',
    });
  }
  if (point.notice !== undefined) logger.warn({ db: name, generation: point.generation.generation }, point.notice);
  const { entry, manifest } = point;

  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw localWriteError(err, dir);
  }
  await removeStaleTempFiles(dir, TEMP_PREFIX_OF(path));
  const temp = allocateTempPath(dir, TEMP_PREFIX_OF(path), '.tmp');
  let rebuilt: RebuildResult;
  try {
    rebuilt = await rebuildDatabase({
      store,
      name,
      point,
      dest: temp,
      quickCheck: options.quickCheck,
      logger,
      signal,
      ...(options.timestamp ? { timestamp: options.timestamp } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
    signal?.throwIfAborted();
    if (options.force !== true && (await exists(path))) {
      throw new PersistdError(`not restoring ${name}: ${path} appeared while the snapshot was downloading`, {
        kind: 'usage',
        op: 'restore',
        path,
        hint: 'stop whatever creates it, or pass --force',
      });
    }
    await installFile(temp, path);
  } catch (err) {
    await releaseTempPath(temp);
    throw err;
  }
  await releaseTempPath(temp);
  const durationMs = Date.now() - started;
  const { segmentsApplied, transactionsApplied, restoredTo, wal, incomplete } = rebuilt;
  logger.info(
    {
      db: name,
      path,
      snapshot: entry.id,
      segments: segmentsApplied,
      transactions: transactionsApplied,
      restoredTo: restoredTo.toISOString(),
      ...(incomplete !== undefined ? { incomplete } : {}),
      bytes: manifest.db.size,
      ms: durationMs,
    },
    'database restored',
  );
  return {
    restored: true,
    path,
    snapshotId: entry.id,
    manifest,
    segmentsApplied,
    transactionsApplied,
    restoredTo,
    wal,
    ...(incomplete !== undefined ? { incomplete } : {}),
    ...(rebuilt.chainDepth !== undefined ? { chainDepth: rebuilt.chainDepth } : {}),
    ...(point.notice !== undefined ? { notice: point.notice } : {}),
    durationMs,
  };
}

/**
 * Renames the verified `temp` over `path`. The old file's side files are moved aside first (a stale
 * WAL or hot journal would be replayed into the new file and corrupt it) and moved back if the
 * rename fails, so a failure leaves the old database whole. Then the directory is fsynced.
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
