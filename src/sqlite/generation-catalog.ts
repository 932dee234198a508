import { generationsPrefix } from '../format/db-keys.js';
import { compareSegments, parseSegmentKey, type SegmentKey } from '../format/db-wal-keys.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { scanSnapshots, type SnapshotEntry } from './snapshot-catalog.js';

/** A WAL segment as the store's listing shows it. */
export interface StoredSegment extends SegmentKey {
  /** Bytes of the compressed object. */
  size: number;
  lastModified: Date;
}

/** One generation of a database as the listing shows it: its committed snapshots and its WAL segments. */
export interface GenerationSummary {
  generation: string;
  /** Committed snapshots, oldest first. */
  snapshots: SnapshotEntry[];
  /** WAL segments, in shipping order. */
  segments: StoredSegment[];
}

/** Everything under `db/<name>/gen/`: the objects, the committed snapshots (oldest first) and the generations (oldest first). */
export interface DatabaseCatalog {
  entries: SnapshotEntry[];
  objects: ObjectInfo[];
  generations: GenerationSummary[];
}

/** Lists a database's objects once (one LIST, no GET) and groups snapshots and WAL segments by generation. */
export async function scanGenerations(store: ObjectStore, name: string, signal?: AbortSignal): Promise<DatabaseCatalog> {
  const { entries, objects } = await scanSnapshots(store, name, signal);
  return { entries, objects, generations: groupGenerations(name, entries, objects) };
}

/** Groups committed snapshots and WAL segment keys by generation; a generation with segments but no snapshot is listed too. */
export function groupGenerations(name: string, entries: readonly SnapshotEntry[], objects: readonly ObjectInfo[]): GenerationSummary[] {
  const byId = new Map<string, GenerationSummary>();
  const of = (generation: string): GenerationSummary => {
    let summary = byId.get(generation);
    if (!summary) byId.set(generation, (summary = { generation, snapshots: [], segments: [] }));
    return summary;
  };
  for (const entry of entries) of(entry.generation).snapshots.push(entry);
  for (const info of objects) {
    if (!info.key.startsWith(generationsPrefix(name))) continue;
    const segment = parseSegmentKey(info.key);
    if (segment && segment.name === name)
      of(segment.generation).segments.push({ ...segment, size: info.size, lastModified: info.lastModified });
  }
  for (const summary of byId.values()) summary.segments.sort(compareSegments);
  return [...byId.values()].sort((a, b) => (a.generation < b.generation ? -1 : a.generation > b.generation ? 1 : 0));
}

/**
 * The newest time a generation can be restored to, at or before `until` when given: the last
 * segment's `shippedAt`, else the newest snapshot's time. Undefined when it has no snapshot (at or
 * before `until`): segments alone restore nothing. Works from the keys alone (a damaged or missing
 * segment is found only when restoring).
 */
export function newestRestorablePoint(summary: GenerationSummary, until?: Date): Date | undefined {
  const limit = until?.getTime() ?? Infinity;
  const snapshot = summary.snapshots.filter((e) => e.createdAt.getTime() <= limit).at(-1);
  if (snapshot === undefined) return undefined;
  const segment = summary.segments
    .filter((s) => s.shippedAt.getTime() <= limit && s.shippedAt.getTime() > snapshot.createdAt.getTime())
    .at(-1);
  return segment?.shippedAt ?? snapshot.createdAt;
}

/**
 * Which generation is "the latest" (at or before `until`): `preferred` when it has a restorable
 * point there (the lineage pointer's choice), else the one whose newest restorable point is newest;
 * ties go to the newer snapshot, then the larger generation id, so every reader picks the same one.
 */
export function latestGeneration(
  generations: readonly GenerationSummary[],
  options: { until?: Date; preferred?: string } = {},
): GenerationSummary | undefined {
  const candidates = generations
    .map((summary) => ({ summary, point: newestRestorablePoint(summary, options.until) }))
    .filter((c): c is { summary: GenerationSummary; point: Date } => c.point !== undefined);
  const preferred = candidates.find((c) => c.summary.generation === options.preferred);
  if (preferred) return preferred.summary;
  const newestSeq = (s: GenerationSummary): string =>
    s.snapshots.filter((e) => options.until === undefined || e.createdAt <= options.until).at(-1)?.seq ?? '';
  candidates.sort(
    (a, b) =>
      a.point.getTime() - b.point.getTime() ||
      (newestSeq(a.summary) < newestSeq(b.summary) ? -1 : newestSeq(a.summary) > newestSeq(b.summary) ? 1 : 0) ||
      (a.summary.generation < b.summary.generation ? -1 : 1),
  );
  return candidates.at(-1)?.summary;
}
