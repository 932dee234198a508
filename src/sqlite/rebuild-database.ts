import type { Logger } from 'pino';
import { PersistdError } from '../errors.js';
import { walPositionOf } from '../format/db-wal-position.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkDatabaseFile, type TableRowCount } from './check-database.js';
import { downloadSnapshot } from './download-snapshot.js';
import type { RestorePoint } from './restore-point.js';
import { applySegments } from './wal/apply-segments.js';
import { chainSegments } from './wal/segment-catalog.js';

/** Options of `rebuildDatabase`. */
export interface RebuildOptions {
  store: ObjectStore;
  name: string;
  point: RestorePoint;
  /** A new file to build the database in (must not exist). */
  dest: string;
  /** Apply only segments shipped at or before this time. */
  timestamp?: Date;
  /** Fail when a segment is missing or damaged instead of stopping before it (`verify`). */
  strict?: boolean;
  quickCheck?: boolean;
  countRows?: boolean;
  /** Segments downloading at once (default 6). */
  concurrency?: number;
  logger: Logger;
  signal?: AbortSignal;
}

/** What a rebuilt database holds. */
export interface RebuildResult {
  segmentsApplied: number;
  transactionsApplied: number;
  /** Every transaction shipped up to this time is in the database (the snapshot's time when no segment applied). */
  restoredTo: Date;
  /** The WAL position the database holds (the last applied frame, else the snapshot's position); null for a snapshot without one. */
  wal: { epoch: number; frame: number } | null;
  /** Why the database stops before the newest shipped state, when a segment was missing or damaged. */
  incomplete?: string;
  tables: TableRowCount[];
}

/**
 * Builds the database of a restore point in `dest`: downloads and checks the snapshot, applies the
 * WAL segments of its generation that follow its position (and were shipped at or before
 * `timestamp`), verified frame by frame, then runs `integrity_check` (or `quick_check`) and the
 * page count check. A missing or damaged segment ends the replay at the last whole transaction
 * before it, with a warning and `incomplete`; it fails (kind `integrity`) instead when `strict`, or
 * when `timestamp` asks for a time the damage makes unreachable. Storage failures throw (kind
 * `storage`). The caller removes `dest` on failure.
 */
export async function rebuildDatabase(options: RebuildOptions): Promise<RebuildResult> {
  const { store, name, point, timestamp, signal, logger } = options;
  const { entry, manifest } = point;
  await downloadSnapshot(store, name, entry, manifest, options.dest, signal);
  const position = walPositionOf(manifest);
  let replay: Omit<RebuildResult, 'tables'> = {
    segmentsApplied: 0, transactionsApplied: 0, restoredTo: entry.createdAt, wal: position ? { epoch: position.epoch, frame: position.frame } : null,
  };
  let pageCount = manifest.db.pageCount;
  if (position !== undefined && point.segments.length > 0) {
    const chain = chainSegments(point.segments, position, timestamp);
    const outcome = await applySegments(options.dest, chain.segments, {
      store, name, position, pageSize: manifest.db.pageSize, signal, ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
    const restoredTo = outcome.last?.shippedAt ?? entry.createdAt;
    replay = {
      segmentsApplied: outcome.applied, transactionsApplied: outcome.transactions, restoredTo,
      wal: outcome.last ? { epoch: outcome.last.epoch, frame: outcome.last.last } : replay.wal,
    };
    pageCount = outcome.pageCount ?? pageCount;
    const damaged = outcome.failure?.segment ?? (chain.stop === 'gap' ? chain.afterGap : undefined);
    if (damaged !== undefined) {
      const why = outcome.failure
        ? outcome.failure.error.message
        : `a WAL segment shipped before ${damaged.key} is missing from the store (the frames before ${damaged.first} of epoch ${damaged.epoch})`;
      // A missing segment's time is unknown (somewhere before the next one's): any later time asked for may be out of reach.
      const unreachable = timestamp !== undefined && (outcome.failure ? damaged.shippedAt.getTime() <= timestamp.getTime() : timestamp.getTime() > restoredTo.getTime());
      if (options.strict === true || unreachable) {
        const target = timestamp !== undefined ? ` to ${timestamp.toISOString()}` : '';
        throw new PersistdError(`cannot restore ${name}${target}: ${why}`, {
          kind: 'integrity', op: 'restore', path: damaged.key, cause: outcome.failure?.error,
          hint: `the replica holds ${name} whole up to ${restoredTo.toISOString()}: restore with --timestamp ${restoredTo.toISOString()} (or earlier), or another generation with --generation`,
        });
      }
      logger.warn({ db: name, restoredTo: restoredTo.toISOString(), reason: why },
        'WAL segment missing or damaged: restoring the last whole transaction before it, later transactions of this generation are not restored');
      replay.incomplete = why;
    }
  }
  const label = replay.segmentsApplied > 0 ? `${name} as of ${replay.restoredTo.toISOString()} (snapshot ${entry.id} + ${replay.segmentsApplied} WAL segment(s))` : `snapshot ${entry.id} of ${name}`;
  const tables = await checkDatabaseFile(options.dest, { quick: options.quickCheck, countRows: options.countRows, expectedPageCount: pageCount, label });
  return { ...replay, tables };
}
