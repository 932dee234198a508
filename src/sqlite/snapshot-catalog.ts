import { messageOf, PersistdError } from '../errors.js';
import {
  assertDatabaseName,
  continuationManifestKey,
  databaseNameOfKey,
  DB_ROOT,
  generationsPrefix,
  incrementDataKey,
  incrementManifestKey,
  parseSnapshotKey,
  parseTimeId,
  snapshotDataKey,
  snapshotId,
  snapshotManifestKey,
  type SnapshotKey,
  type SnapshotRef,
} from '../format/db-keys.js';
import { parseManifest, type SnapshotManifest } from '../format/db-manifest.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { NotFoundError, StoreError } from '../store/store-errors.js';

/** One committed snapshot as the store's listing shows it (no manifest read yet). */
export interface SnapshotEntry {
  id: string;
  generation: string;
  seq: string;
  /** When its read transaction began (from the seq). */
  createdAt: Date;
  manifestKey: string;
  /** What it is: a full snapshot, (format 2) a continuation of another generation, or an increment. */
  point: SnapshotKey['point'];
  /** The data object of a full snapshot or an increment; undefined for a continuation (it has none). */
  dataKey: string | undefined;
  /** Size of the compressed data object, undefined when the listing does not show it (a manifest pointing at a missing object, a continuation). */
  compressedSize: number | undefined;
  /** (format 2) Set for a continuation or an increment: the restore point its state starts from (from its key). */
  base?: SnapshotRef;
}

/** A snapshot with its manifest read, as `persistd snapshots` shows it. */
export interface SnapshotListing {
  id: string;
  generation: string;
  createdAt: Date;
  /** Uncompressed database size. */
  size: number;
  compressedSize: number;
  manifest: SnapshotManifest;
}

/** Every object under `db/<name>/gen/`, and the committed snapshots among them (oldest first). */
export async function scanSnapshots(
  store: ObjectStore,
  name: string,
  signal?: AbortSignal,
): Promise<{ entries: SnapshotEntry[]; objects: ObjectInfo[] }> {
  assertDatabaseName(name);
  const objects: ObjectInfo[] = [];
  const dataSizes = new Map<string, number>();
  const manifests: SnapshotKey[] = [];
  try {
    for await (const info of store.list(generationsPrefix(name), { signal })) {
      objects.push(info);
      const parsed = parseSnapshotKey(info.key);
      if (!parsed || parsed.name !== name) continue;
      if (parsed.kind === 'data') dataSizes.set(info.key, info.size);
      else manifests.push(parsed);
    }
  } catch (err) {
    throw storageError(err, `cannot list the snapshots of ${name}`, generationsPrefix(name));
  }
  const entries = manifests.map(({ generation, seq, base, point }): SnapshotEntry => {
    const id = snapshotId(generation, seq);
    const createdAt = parseTimeId(seq)!;
    if (point === 'continuation' && base !== undefined) {
      return {
        id,
        generation,
        seq,
        createdAt,
        point,
        manifestKey: continuationManifestKey(name, generation, seq, base),
        dataKey: undefined,
        compressedSize: undefined,
        base,
      };
    }
    if (point === 'increment' && base !== undefined) {
      const dataKey = incrementDataKey(name, generation, seq);
      return {
        id,
        generation,
        seq,
        createdAt,
        point,
        manifestKey: incrementManifestKey(name, generation, seq, base.seq),
        dataKey,
        compressedSize: dataSizes.get(dataKey),
        base,
      };
    }
    // (format 2) A zstd data object when one is listed, else the gzip one (the manifest says which it commits).
    const zstdKey = snapshotDataKey(name, generation, seq, 'zstd');
    const dataKey = dataSizes.has(zstdKey) ? zstdKey : snapshotDataKey(name, generation, seq);
    return {
      id,
      generation,
      seq,
      createdAt,
      point: 'full',
      manifestKey: snapshotManifestKey(name, generation, seq),
      dataKey,
      compressedSize: dataSizes.get(dataKey),
    };
  });
  entries.sort(compareEntries);
  return { entries, objects };
}

/** Oldest first: by snapshot time, then generation, so ties between overlapping instances resolve the same way everywhere. */
export function compareEntries(a: SnapshotEntry, b: SnapshotEntry): number {
  return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : a.generation < b.generation ? -1 : a.generation > b.generation ? 1 : 0;
}

/** Reads and validates one snapshot's manifest. Storage failures are kind `storage`, bad manifests kind `integrity`. */
export async function readManifest(
  store: ObjectStore,
  name: string,
  entry: SnapshotEntry,
  signal?: AbortSignal,
): Promise<SnapshotManifest> {
  let text: string;
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await store.get(entry.manifestKey, { signal })) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    throw storageError(err, `cannot read the manifest of snapshot ${entry.id} of ${name}`, entry.manifestKey);
  }
  return parseManifest(text, {
    key: entry.manifestKey,
    name,
    generation: entry.generation,
    seq: entry.seq,
    point: entry.point,
    ...(entry.base ? { base: entry.base } : {}),
  });
}

/** Every committed snapshot of a database (or of `entries`, from a listing already made) with its manifest read, oldest first (8 GETs at a time). */
export async function listSnapshots(options: {
  store: ObjectStore;
  name: string;
  entries?: readonly SnapshotEntry[];
  signal?: AbortSignal;
}): Promise<SnapshotListing[]> {
  const { store, name, signal } = options;
  const entries = options.entries ?? (await scanSnapshots(store, name, signal)).entries;
  const out: SnapshotListing[] = new Array(entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const index = next++;
      const entry = entries[index]!;
      const manifest = await readManifest(store, name, entry, signal);
      out[index] = {
        id: entry.id,
        generation: entry.generation,
        createdAt: entry.createdAt,
        size: manifest.db.size,
        compressedSize: entry.compressedSize ?? (manifest.kind === 'sqlite-continuation' ? 0 : manifest.data.size),
        manifest,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, entries.length) }, worker));
  return out;
}

/** Names of every database that has objects in the store, sorted. */
export async function listDatabaseNames(store: ObjectStore, signal?: AbortSignal): Promise<string[]> {
  const names = new Set<string>();
  try {
    for await (const info of store.list(DB_ROOT, { signal })) {
      const name = databaseNameOfKey(info.key);
      if (name !== undefined) names.add(name);
    }
  } catch (err) {
    throw storageError(err, 'cannot list the databases in the store', DB_ROOT);
  }
  return [...names].sort();
}

/** Wraps a store failure so the message says what persistd was doing; kind stays `storage`. */
export function storageError(err: unknown, what: string, key: string): Error {
  if (err instanceof Error && err.name === 'AbortError') return err;
  if (err instanceof PersistdError && err.kind !== 'storage' && !(err instanceof StoreError)) return err;
  const missing = err instanceof NotFoundError;
  return new PersistdError(`${what}: ${messageOf(err)}`, {
    kind: missing ? 'integrity' : 'storage',
    op: 'read',
    path: key,
    cause: err,
    hint: missing
      ? 'the object was deleted from the store; restore another snapshot with --snapshot <id> (`persistd snapshots` lists them)'
      : 'check that the store is reachable and the credentials can read it, then run the command again',
  });
}
