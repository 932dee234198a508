import type { Logger } from 'pino';
import { parseSnapshotKey, snapshotDataKey } from '../format/db-keys.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { scanSnapshots, storageError } from './snapshot-catalog.js';

/** Options of `applyRetention`. */
export interface RetentionOptions {
  store: ObjectStore;
  name: string;
  /** Snapshots younger than this are kept. */
  retentionMs: number;
  /** Never keep fewer than this many snapshots (the newest is always kept, whatever this says). */
  minKeep: number;
  now?: Date;
  /** Data objects with no manifest younger than this may be an upload in progress and are kept (default 1 h). */
  orphanGraceMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What `applyRetention` deleted. */
export interface RetentionResult {
  kept: string[];
  deletedSnapshots: string[];
  deletedOrphans: string[];
}

/**
 * Deletes expired snapshots of one database: those older than `retentionMs`, beyond the newest
 * `minKeep`. Manifests are deleted first (so no reader ever sees a manifest without its data), then
 * their data objects. Data objects no manifest commits, and objects of generations with no kept
 * snapshot, are deleted once older than the grace period. Works from the listing alone (no GET).
 */
export async function applyRetention(options: RetentionOptions): Promise<RetentionResult> {
  const { store, name, signal } = options;
  const logger = options.logger ?? silentLogger();
  const now = (options.now ?? new Date()).getTime();
  const graceMs = options.orphanGraceMs ?? 3_600_000;
  const { entries, objects } = await scanSnapshots(store, name, signal);

  const newestFirst = [...entries].reverse();
  const keep = newestFirst.filter((e, index) => index === 0 || index < options.minKeep || now - e.createdAt.getTime() < options.retentionMs);
  const keepSet = new Set(keep);
  const expired = newestFirst.filter((e) => !keepSet.has(e));
  const present = new Set(objects.map((o) => o.key));
  const keptManifests = new Set(keep.map((e) => e.manifestKey));
  const keptData = new Set(keep.map((e) => e.dataKey));
  const keptGenerations = new Set(keep.map((e) => e.generation));
  const expiredData = new Set(expired.map((e) => e.dataKey));
  const committedData = new Set(entries.map((e) => e.dataKey));

  const orphans: string[] = [];
  for (const info of objects) {
    if (keptManifests.has(info.key) || keptData.has(info.key) || expiredData.has(info.key)) continue;
    if (now - info.lastModified.getTime() < graceMs) continue;
    const parsed = parseSnapshotKey(info.key);
    if (parsed?.kind === 'manifest') continue; // an expired manifest, handled above
    if (parsed?.kind === 'data' && !committedData.has(snapshotDataKey(name, parsed.generation, parsed.seq))) {
      orphans.push(info.key); // uploaded, never committed (crash between data and manifest)
      continue;
    }
    // Anything else of a generation no kept snapshot belongs to (e.g. its WAL segments) is unreachable.
    const generation = info.key.slice(`db/${name}/gen/`.length).split('/', 1)[0] ?? '';
    if (generation !== '' && !keptGenerations.has(generation)) orphans.push(info.key);
  }

  try {
    if (expired.length > 0) await store.delete(expired.map((e) => e.manifestKey), { signal });
    const data = [...expired.map((e) => e.dataKey).filter((key) => present.has(key)), ...orphans];
    if (data.length > 0) await store.delete(data, { signal });
  } catch (err) {
    throw storageError(err, `cannot delete expired snapshots of ${name}`, `db/${name}/`);
  }
  if (expired.length > 0 || orphans.length > 0) {
    logger.info({ db: name, deleted: expired.length, orphans: orphans.length, kept: keep.length }, 'retention applied');
  }
  return { kept: keep.map((e) => e.id), deletedSnapshots: expired.map((e) => e.id), deletedOrphans: orphans };
}
