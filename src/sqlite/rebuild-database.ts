import type { Logger } from 'pino';
import { PersistdError } from '../errors.js';
import type { SnapshotRef } from '../format/db-keys.js';
import { segmentFollows, walPositionOf, type WalPosition } from '../format/db-wal-position.js';
import type { SegmentKey } from '../format/db-wal-keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkDatabaseFile, type TableRowCount } from './check-database.js';
import { downloadSnapshot } from './download-snapshot.js';
import { scanGenerations } from './generation-catalog.js';
import type { RestorePoint } from './restore-point.js';
import { listSnapshots, readManifest } from './snapshot-catalog.js';
import { applyIncrements, incrementChain } from './apply-increments.js';
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
  /** (format 2) How many continuations the restore followed down to a full snapshot (absent: none). */
  chainDepth?: number;
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
  const { name, point } = options;
  const { entry } = point;
  const { replay, pageCount, depth, durable } = await buildState(options, point, 0);
  const through = depth > 0 ? ` (continuing ${depth} earlier generation(s))` : '';
  const label =
    replay.segmentsApplied > 0
      ? `${name} as of ${replay.restoredTo.toISOString()} (snapshot ${entry.id}${through} + ${replay.segmentsApplied} WAL segment(s))`
      : `snapshot ${entry.id}${through} of ${name}`;
  let tables: TableRowCount[];
  try {
    tables = await checkDatabaseFile(options.dest, {
      quick: options.quickCheck,
      countRows: options.countRows,
      expectedPageCount: pageCount,
      label,
    });
  } catch (err) {
    await durable.catch(() => undefined);
    throw err;
  }
  // The snapshot's fsync ran on the thread pool during the check.
  await durable;
  return { ...replay, ...(depth > 0 ? { chainDepth: depth } : {}), tables };
}

/** Continuations followed at most, down to a full snapshot; the writer starts a full snapshot long before. */
const MAX_CHAIN_DEPTH = 64;

/**
 * Builds a restore point's state in `options.dest`: its snapshot (or, for a continuation, its base
 * state, rebuilt the same way and required whole and exact), then its generation's segments after its
 * position. `until` (bases only): apply the segments up to that position and no further, strictly.
 */
async function buildState(
  options: RebuildOptions,
  point: RestorePoint,
  depth: number,
  until?: { epoch: number; frame: number } | null,
): Promise<{ replay: Omit<RebuildResult, 'tables'>; pageCount: number; depth: number; durable: Promise<void> }> {
  const { store, name, signal, logger } = options;
  const timestamp = until === undefined ? options.timestamp : undefined;
  const { entry, manifest } = point;
  let chainDepth = depth;
  let startTime = entry.createdAt;
  // Settles once the snapshot's bytes are on disk; a failure is raised by the caller's await, never unhandled.
  let durable: Promise<void> = Promise.resolve();
  if (manifest.kind === 'sqlite-continuation') {
    const fail = (why: string): PersistdError =>
      new PersistdError(`cannot restore ${name} from ${entry.id}: ${why}`, {
        kind: 'integrity',
        op: 'restore',
        path: entry.manifestKey,
        hint: 'the generation it continues is not whole in the replica; restore an older generation with --generation (`persistd snapshots` lists them)',
      });
    if (depth >= MAX_CHAIN_DEPTH) throw fail(`it continues more than ${MAX_CHAIN_DEPTH} generations`);
    const base = await resolveBasePoint(store, name, manifest.base, signal);
    if (base === undefined) throw fail(`its base snapshot ${manifest.base.generation}/${manifest.base.seq} is missing`);
    const built = await buildState(options, base, depth + 1, manifest.base.wal);
    const holds = built.replay.wal;
    const wants = manifest.base.wal;
    if (wants !== null && (holds === null || holds.epoch !== wants.epoch || holds.frame !== wants.frame)) {
      throw fail(
        `its base holds ${holds ? `epoch ${holds.epoch} frame ${holds.frame}` : 'no WAL frame'} of ${manifest.base.generation}, and it continues from epoch ${wants.epoch} frame ${wants.frame}`,
      );
    }
    if (built.pageCount !== manifest.db.pageCount)
      throw fail(`its base has ${built.pageCount} pages, and it continues from ${manifest.db.pageCount}`);
    chainDepth = built.depth;
    durable = built.durable;
    startTime = new Date(Math.max(entry.createdAt.getTime(), Date.parse(manifest.base.restoredTo)));
  } else if (manifest.kind === 'sqlite-increment') {
    // The chain's root state (no segments: the increments hold what they cover), then each increment's pages.
    const { root, increments } = incrementChain(name, point.generation, entry);
    const rootPoint: RestorePoint = {
      entry: root,
      manifest: await readManifest(store, name, root, signal),
      generation: point.generation,
      segments: point.segments,
    };
    const built = await buildState(options, rootPoint, depth, null);
    const manifests = await listSnapshots({ store, name, entries: increments, signal });
    const links = manifests.map((m, i) => {
      if (m.manifest.kind !== 'sqlite-increment')
        throw new PersistdError(`cannot restore ${name}: ${increments[i]!.id} is not an increment`, {
          kind: 'integrity',
          op: 'restore',
          path: increments[i]!.manifestKey,
        });
      return { entry: increments[i]!, manifest: m.manifest };
    });
    await applyIncrements(options.dest, links, { store, name, signal });
    chainDepth = built.depth;
    durable = built.durable;
  } else {
    ({ durable } = await downloadSnapshot(store, name, entry, manifest, options.dest, signal));
    durable.catch(() => undefined);
  }
  const position = walPositionOf(manifest);
  if (position !== undefined) checkPositionAgainstSegments(name, entry, position, point.segments);
  let replay: Omit<RebuildResult, 'tables'> = {
    segmentsApplied: 0,
    transactionsApplied: 0,
    restoredTo: startTime,
    wal: position ? { epoch: position.epoch, frame: position.frame } : null,
  };
  let pageCount = manifest.db.pageCount;
  // A base stops exactly where its continuation started: no segment after that position.
  const segments =
    until === undefined
      ? point.segments
      : until === null
        ? []
        : point.segments.filter((s) => !segmentFollows({ ...until, salt1: null, salt2: null }, s.epoch, s.last));
  if (position !== undefined && segments.length > 0) {
    const chain = chainSegments(segments, position, timestamp);
    const outcome = await applySegments(options.dest, chain.segments, {
      store,
      name,
      position,
      pageSize: manifest.db.pageSize,
      signal,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
    const restoredTo = outcome.last?.shippedAt ?? startTime;
    replay = {
      segmentsApplied: outcome.applied,
      transactionsApplied: outcome.transactions,
      restoredTo,
      wal: outcome.last ? { epoch: outcome.last.epoch, frame: outcome.last.last } : replay.wal,
    };
    pageCount = outcome.pageCount ?? pageCount;
    const damaged = outcome.failure?.segment ?? (chain.stop === 'gap' ? chain.afterGap : undefined);
    if (damaged !== undefined) {
      const why = outcome.failure
        ? outcome.failure.error.message
        : `a WAL segment shipped before ${damaged.key} is missing from the store (the frames before ${damaged.first} of epoch ${damaged.epoch})`;
      // A missing segment's time is unknown (somewhere before the next one's): any later time asked for may be out of reach.
      const unreachable =
        timestamp !== undefined &&
        (outcome.failure ? damaged.shippedAt.getTime() <= timestamp.getTime() : timestamp.getTime() > restoredTo.getTime());
      if (options.strict === true || unreachable || until !== undefined) {
        const target = timestamp !== undefined ? ` to ${timestamp.toISOString()}` : '';
        throw new PersistdError(`cannot restore ${name}${target}: ${why}`, {
          kind: 'integrity',
          op: 'restore',
          path: damaged.key,
          cause: outcome.failure?.error,
          hint: `the replica holds ${name} whole up to ${restoredTo.toISOString()}: restore with --timestamp ${restoredTo.toISOString()} (or earlier), or another generation with --generation`,
        });
      }
      logger.warn(
        { db: name, restoredTo: restoredTo.toISOString(), reason: why },
        'WAL segment missing or damaged: restoring the last whole transaction before it, later transactions of this generation are not restored',
      );
      replay.incomplete = why;
    }
  }
  return { replay, pageCount, depth: chainDepth, durable };
}

/** How long after a snapshot's time frames it holds may still be stored (read under the pin's lock, then flushed). */
const POSITION_SLACK_MS = 2000;

/**
 * A snapshot's WAL position must not claim frames its generation shipped well after the snapshot was
 * taken: such a position is damaged or forged (it would silently drop every segment it claims).
 */
function checkPositionAgainstSegments(
  name: string,
  entry: RestorePoint['entry'],
  position: WalPosition,
  segments: readonly SegmentKey[],
): void {
  const claimed = segments.find(
    (s) => s.shippedAt.getTime() > entry.createdAt.getTime() + POSITION_SLACK_MS && !segmentFollows(position, s.epoch, s.last),
  );
  if (claimed === undefined) return;
  throw new PersistdError(
    `cannot restore ${name} from snapshot ${entry.id}: its WAL position (epoch ${position.epoch}, frame ${position.frame}) claims frames of ${claimed.key}, shipped after the snapshot was taken`,
    {
      kind: 'integrity',
      op: 'restore',
      path: entry.manifestKey,
      hint: 'the snapshot manifest is damaged; restore an older snapshot with --snapshot <id> or another generation with --generation (`persistd snapshots` lists them)',
    },
  );
}

/** The restore point of a continuation's base: that snapshot, with its generation's segments. */
async function resolveBasePoint(
  store: ObjectStore,
  name: string,
  base: SnapshotRef,
  signal?: AbortSignal,
): Promise<RestorePoint | undefined> {
  const { generations } = await scanGenerations(store, name, signal);
  const generation = generations.find((g) => g.generation === base.generation);
  const entry = generation?.snapshots.find((e) => e.seq === base.seq);
  if (generation === undefined || entry === undefined) return undefined;
  return { entry, manifest: await readManifest(store, name, entry, signal), generation, segments: generation.segments };
}
