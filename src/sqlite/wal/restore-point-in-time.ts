import { mkdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { PersistdError } from '../../errors.js';
import { assertDatabaseName } from '../../format/db-keys.js';
import type { SnapshotManifest } from '../../format/db-manifest.js';
import { walPositionOf } from '../../format/db-wal-position.js';
import { silentLogger } from '../../log/logger.js';
import type { ObjectStore } from '../../store/object-store.js';
import { checkDatabaseFile } from '../check-database.js';
import { downloadSnapshot, localWriteError } from '../download-snapshot.js';
import { readManifest, scanSnapshots, type SnapshotEntry } from '../snapshot-catalog.js';
import { allocateTempPath, releaseTempPath, removeStaleTempFiles } from '../temp-files.js';
import { applySegments } from './apply-segments.js';
import { exists, installDatabaseFile } from './install-database-file.js';
import { chainSegments, listSegments } from './segment-catalog.js';

/** Options of `restorePointInTime`. */
export interface PointInTimeOptions {
  store: ObjectStore;
  name: string;
  /** Where to write the database. */
  path: string;
  /** The state as of the last transaction shipped at or before this time; the latest state when absent. */
  timestamp?: Date;
  /** Only this generation (its newest snapshot at or before `timestamp`, then its segments). */
  generation?: string;
  force?: boolean;
  quickCheck?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What `restorePointInTime` restored. */
export interface PointInTimeResult {
  path: string;
  snapshotId: string;
  manifest: SnapshotManifest;
  segmentsApplied: number;
  transactionsApplied: number;
  /** Every transaction shipped up to this time is in the restored database (the snapshot's time when no segment applied). */
  restoredTo: Date;
  /** Why the restore stopped before the newest state, when a segment was missing or damaged. */
  incomplete?: string;
  durationMs: number;
}

/**
 * Restores a database to a point in time: the newest snapshot at or before the time, then the WAL
 * segments of its generation shipped after it and not after the time, applied in order and
 * verified frame by frame, then `integrity_check`, fsync and an atomic rename. A missing or
 * damaged segment stops at the last whole transaction before it (and says so); when a time was
 * asked for that the damage makes unreachable, the restore fails instead and nothing is installed.
 */
export async function restorePointInTime(options: PointInTimeOptions): Promise<PointInTimeResult> {
  const { store, name, signal, timestamp } = options;
  assertDatabaseName(name);
  const logger = options.logger ?? silentLogger();
  const started = Date.now();
  const path = resolve(options.path);
  if (options.force !== true && (await exists(path))) {
    throw new PersistdError(`not restoring ${name}: ${path} already exists`, {
      kind: 'usage', op: 'restore', path, hint: 'pass --force to replace it, or -o <path> to restore elsewhere',
    });
  }
  const entry = await chooseSnapshot(store, name, options);
  const manifest = await readManifest(store, name, entry, signal);
  const position = walPositionOf(manifest);
  const dir = dirname(path);
  const prefix = `.${basename(path)}.persistd-restore`;
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw localWriteError(err, dir);
  }
  await removeStaleTempFiles(dir, prefix);
  const temp = allocateTempPath(dir, prefix, '.tmp');
  try {
    await downloadSnapshot(store, name, entry, manifest, temp, signal);
    let applied = { segments: 0, transactions: 0, restoredTo: entry.createdAt, incomplete: undefined as string | undefined };
    if (position !== undefined) {
      const chain = chainSegments(await listSegments(store, name, entry.generation, signal), position, timestamp);
      const outcome = await applySegments(temp, chain.segments, { store, name, position, pageSize: manifest.db.pageSize, signal });
      const failedAt = outcome.failure?.segment ?? (chain.stop === 'gap' ? chain.afterGap : undefined);
      let incomplete: string | undefined;
      if (failedAt !== undefined) {
        incomplete = outcome.failure
          ? outcome.failure.error.message
          : `the WAL segment before ${failedAt.key} is missing from the store`;
        // Asked for a time the damage keeps us from reaching: fail rather than restore less than asked.
        if (timestamp !== undefined && failedAt.shippedAt.getTime() <= timestamp.getTime()) {
          throw new PersistdError(`cannot restore ${name} to ${timestamp.toISOString()}: ${incomplete}`, {
            kind: 'integrity', op: 'restore', path: failedAt.key, cause: outcome.failure?.error,
            hint: `restore to ${(outcome.last?.shippedAt ?? entry.createdAt).toISOString()} or earlier with --timestamp, the last time the replica holds whole`,
          });
        }
        logger.warn({ db: name, reason: incomplete }, 'restore stopped at the last whole transaction before a missing or damaged WAL segment');
      }
      applied = { segments: outcome.applied, transactions: outcome.transactions, restoredTo: outcome.last?.shippedAt ?? entry.createdAt, incomplete };
    }
    await checkDatabaseFile(temp, { quick: options.quickCheck, label: `point-in-time restore of ${name}` });
    signal?.throwIfAborted();
    await installDatabaseFile(temp, path);
    const durationMs = Date.now() - started;
    logger.info({ db: name, path, snapshot: entry.id, segments: applied.segments, restoredTo: applied.restoredTo.toISOString(), ms: durationMs }, 'database restored');
    return {
      path, snapshotId: entry.id, manifest, segmentsApplied: applied.segments, transactionsApplied: applied.transactions,
      restoredTo: applied.restoredTo, ...(applied.incomplete !== undefined ? { incomplete: applied.incomplete } : {}), durationMs,
    };
  } finally {
    await releaseTempPath(temp);
  }
}

async function chooseSnapshot(store: ObjectStore, name: string, options: PointInTimeOptions): Promise<SnapshotEntry> {
  const { entries } = await scanSnapshots(store, name, options.signal);
  const limit = options.timestamp?.getTime();
  const entry = entries
    .filter((e) => options.generation === undefined || e.generation === options.generation)
    .filter((e) => limit === undefined || e.createdAt.getTime() <= limit)
    .at(-1);
  if (entry === undefined) {
    const what = [options.generation ? `generation ${options.generation}` : '', options.timestamp ? `at or before ${options.timestamp.toISOString()}` : ''].filter(Boolean).join(' ');
    throw new PersistdError(`cannot restore ${name}: the store has no snapshot ${what}`.trim(), {
      kind: 'no-backup', op: 'restore', path: store.description,
      hint: 'check the database name, the time and the generation (`persistd snapshots` lists what exists)',
    });
  }
  return entry;
}
