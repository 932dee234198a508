import { messageOf } from '../errors.js';
import type { Logger } from 'pino';
import { parseSnapshotKey, snapshotId } from '../format/db-keys.js';
import { segmentFollows, walPositionOf, type WalPosition } from '../format/db-wal-position.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { latestGeneration, scanGenerations, type GenerationSummary } from './generation-catalog.js';
import { readManifest, storageError, type SnapshotEntry } from './snapshot-catalog.js';

/** Options of `applyRetention`. */
export interface RetentionOptions {
  store: ObjectStore;
  name: string;
  /** Every state restorable from within this long ago is kept. */
  retentionMs: number;
  /** Never keep fewer than this many snapshots (the newest is always kept, whatever this says). */
  minKeep: number;
  /** The lineage pointer's generation: counts as the latest one (see `latestGeneration`). */
  preferredGeneration?: string;
  now?: Date;
  /** Objects no manifest commits younger than this may be an upload in progress and are kept (default 1 h). */
  orphanGraceMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What `applyRetention` deleted. */
export interface RetentionResult {
  /** Snapshot ids kept, newest first. */
  kept: string[];
  /** Snapshot ids deleted, newest first. */
  deletedSnapshots: string[];
  /** Keys of WAL segments deleted: those of expired generations and those a kept snapshot of their generation holds. */
  deletedSegments: string[];
  /** Other keys deleted: uncommitted data objects and leftovers of generations without a committed snapshot. */
  deletedOrphans: string[];
}

/**
 * Deletes what no restore within the retention can need (docs/FORMAT.md, "What retention deletes").
 * A snapshot is kept when it is the newest, among the newest `minKeep`, the newest of the latest
 * generation, or when any state it restores (itself, or a WAL segment after it and before the
 * generation's next snapshot) is younger than `retentionMs`. A generation without a kept snapshot
 * goes whole; in a kept generation, WAL segments whose frames all lie before the position of its
 * oldest kept snapshot go (one manifest GET per such generation). Expired manifests are deleted
 * first, so no reader ever sees a snapshot without its data or the segments it needs; then data
 * objects and segments. Objects no manifest commits are deleted only once older than the grace
 * period.
 */
export async function applyRetention(options: RetentionOptions): Promise<RetentionResult> {
  const { store, name, signal } = options;
  const logger = options.logger ?? silentLogger();
  const now = (options.now ?? new Date()).getTime();
  const graceMs = options.orphanGraceMs ?? 3_600_000;
  const { entries, objects, generations } = await scanGenerations(store, name, signal);

  const latest = latestGeneration(generations, { preferred: options.preferredGeneration });
  const newestOfLatest = latest?.snapshots.at(-1);
  const servesUntil = restorableUntil(generations);
  const newestFirst = [...entries].reverse();
  const inWindow = (e: SnapshotEntry): boolean => now - (servesUntil.get(e) ?? e.createdAt).getTime() < options.retentionMs;
  const replayable = replayableKeep(generations, inWindow, now - options.retentionMs, options.retentionMs);
  const keepSet = new Set(
    newestFirst.filter(
      (e, index) => index === 0 || index < options.minKeep || e === newestOfLatest || (replayable.get(e.generation)?.has(e) ?? inWindow(e)),
    ),
  );
  // A kept continuation or increment restores through its base: the base is kept too (and with it, for
  // a continuation, the segments of its generation after it), and so on down the chain. The keys name the bases.
  const byId = new Map(entries.map((e) => [e.id, e]));
  const needing = [...keepSet];
  for (let entry = needing.pop(); entry !== undefined; entry = needing.pop()) {
    const base = entry.base && byId.get(snapshotId(entry.base.generation, entry.base.seq));
    if (base !== undefined && !keepSet.has(base)) {
      keepSet.add(base);
      needing.push(base);
    }
  }
  const keep = newestFirst.filter((e) => keepSet.has(e));
  const expired = newestFirst.filter((e) => !keepSet.has(e));
  const present = new Set(objects.map((o) => o.key));

  const deletedSegments: string[] = [];
  const orphans: string[] = [];
  const keptGenerations = new Set(keep.map((e) => e.generation));
  const expiredGenerations = new Set(expired.filter((e) => !keptGenerations.has(e.generation)).map((e) => e.generation));
  for (const summary of generations) {
    if (keptGenerations.has(summary.generation)) {
      const oldestKept = summary.snapshots.find((e) => keepSet.has(e))!;
      const position = await garbagePosition(summary, oldestKept, expired, options);
      if (position !== undefined) {
        for (const segment of summary.segments)
          if (!segmentFollows(position, segment.epoch, segment.last)) deletedSegments.push(segment.key);
      }
    } else if (expiredGenerations.has(summary.generation)) {
      for (const segment of summary.segments) deletedSegments.push(segment.key);
    }
  }
  const handled = new Set([...entries.flatMap((e) => [e.manifestKey, ...(e.dataKey ? [e.dataKey] : [])]), ...deletedSegments]);
  const committedData = new Set(entries.flatMap((e) => (e.dataKey ? [e.dataKey] : [])));
  for (const info of objects) {
    if (handled.has(info.key)) continue;
    const generation = info.key.slice(`db/${name}/gen/`.length).split('/', 1)[0] ?? '';
    if (expiredGenerations.has(generation)) {
      orphans.push(info.key); // anything else of a generation that goes whole
      continue;
    }
    if (now - info.lastModified.getTime() < graceMs) continue;
    const parsed = parseSnapshotKey(info.key);
    if (parsed?.kind === 'data' && !committedData.has(info.key)) {
      orphans.push(info.key); // uploaded, never committed (crash between data and manifest)
    } else if (generation !== '' && !keptGenerations.has(generation)) {
      orphans.push(info.key); // a generation no manifest ever committed (its first snapshot failed)
    }
  }

  try {
    if (expired.length > 0)
      await store.delete(
        expired.map((e) => e.manifestKey),
        { signal },
      );
    const rest = [
      ...expired.flatMap((e) => (e.dataKey !== undefined && present.has(e.dataKey) ? [e.dataKey] : [])),
      ...deletedSegments,
      ...orphans,
    ];
    if (rest.length > 0) await store.delete(rest, { signal });
  } catch (err) {
    throw storageError(err, `cannot delete expired snapshots of ${name}`, `db/${name}/`);
  }
  if (expired.length > 0 || deletedSegments.length > 0 || orphans.length > 0) {
    logger.info(
      { db: name, deleted: expired.length, segments: deletedSegments.length, orphans: orphans.length, kept: keep.length },
      'retention applied',
    );
  }
  return { kept: keep.map((e) => e.id), deletedSnapshots: expired.map((e) => e.id), deletedSegments, deletedOrphans: orphans };
}

/**
 * (format 2) In a generation with WAL segments every state after a restore point is reachable from it
 * by replaying segments, so it needs few of its restore points to keep every state of the retention:
 * the anchor (the newest point at or before the retention's start, else its oldest point within it),
 * then one point at least a retention period after it (so that the anchor moves on as time passes),
 * and its newest point (the fast way to its latest state). The others only shorten point-in-time
 * replays, and each would hold on to the full snapshot its chain starts from. Returns, per such
 * generation, the points to keep (none when no state of it is within the retention); generations
 * without segments keep every point within the retention (each snapshot is a state of its own).
 * Chains are closed afterwards: a kept point keeps every point it applies on.
 */
function replayableKeep(
  generations: readonly GenerationSummary[],
  inWindow: (e: SnapshotEntry) => boolean,
  cutoff: number,
  retentionMs: number,
): Map<string, Set<SnapshotEntry>> {
  const keep = new Map<string, Set<SnapshotEntry>>();
  for (const summary of generations) {
    if (summary.segments.length === 0) continue;
    const points = summary.snapshots;
    const kept = new Set<SnapshotEntry>();
    keep.set(summary.generation, kept);
    if (!points.some(inWindow)) continue;
    let anchor = points.findLastIndex((p) => p.createdAt.getTime() <= cutoff);
    if (anchor < 0) anchor = points.findIndex(inWindow);
    let last = points[anchor]!;
    kept.add(last);
    for (const point of points.slice(anchor + 1)) {
      if (point.createdAt.getTime() - last.createdAt.getTime() < retentionMs) continue;
      kept.add(point);
      last = point;
    }
    kept.add(points.at(-1)!);
  }
  return keep;
}

/**
 * For each snapshot, the newest time it is the starting point of a restore for: the last segment
 * shipped after it and not after the generation's next snapshot, else its own time.
 */
function restorableUntil(generations: readonly GenerationSummary[]): Map<SnapshotEntry, Date> {
  const until = new Map<SnapshotEntry, Date>();
  for (const summary of generations) {
    summary.snapshots.forEach((snapshot, index) => {
      const start = snapshot.createdAt.getTime();
      const end = summary.snapshots[index + 1]?.createdAt.getTime() ?? Infinity;
      let last = start;
      for (const segment of summary.segments) {
        const t = segment.shippedAt.getTime();
        if (t > start && t <= end && t > last) last = t;
      }
      until.set(snapshot, new Date(last));
    });
  }
  return until;
}

/**
 * The WAL position of a kept generation's oldest kept snapshot, when segments before it may exist
 * (an older snapshot of the generation expires now, or a segment was shipped before it): every
 * segment that does not follow it is held by that snapshot. Undefined when there is nothing to look
 * for, the manifest has no position, or it cannot be read (then no segment is deleted).
 */
async function garbagePosition(
  summary: GenerationSummary,
  oldestKept: SnapshotEntry,
  expired: readonly SnapshotEntry[],
  options: RetentionOptions,
): Promise<WalPosition | undefined> {
  if (summary.segments.length === 0) return undefined;
  const olderExpires = expired.some((e) => e.generation === summary.generation);
  const earlierSegment = summary.segments.some((s) => s.shippedAt.getTime() < oldestKept.createdAt.getTime());
  if (!olderExpires && !earlierSegment) return undefined;
  try {
    return walPositionOf(await readManifest(options.store, options.name, oldestKept, options.signal));
  } catch (err) {
    options.signal?.throwIfAborted();
    (options.logger ?? silentLogger()).warn(
      { db: options.name, snapshot: oldestKept.id, err: messageOf(err) },
      'cannot read the manifest of the oldest kept snapshot; its generation keeps all its WAL segments this time',
    );
    return undefined;
  }
}
