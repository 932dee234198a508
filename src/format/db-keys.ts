/**
 * Remote key layout of SQLite databases (docs/FORMAT.md, "SQLite databases"). Keys are relative to
 * the store root; the writer and every reader build and parse keys only through these functions.
 */
import { randomBytes } from 'node:crypto';
import { usageError } from '../errors.js';

/** Root of everything persistd writes for SQLite databases. */
export const DB_ROOT = 'db/';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** `YYYYMMDDTHHMMSSmmmZ`: UTC, millisecond precision, sorts by time as a string. */
const TIME_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/;
const GENERATION = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;
const SNAPSHOT_KEY =
  /^db\/([^/]+)\/gen\/([^/]+)\/snap\/([^/.]+)(?:\.from\.([^/.]+)\.([^/.]+)|\.after\.([^/.]+))?\.(json|db\.gz|db\.zst|pages\.gz)$/;

/** Throws a usage error unless `name` can be a database name in the replica (one path segment, safe characters). */
export function assertDatabaseName(name: string): void {
  if (!NAME.test(name)) {
    throw usageError(
      `"${name}" cannot be used as a database name in the replica`,
      'use letters, digits, ".", "_" and "-" (at most 128 characters, not starting with "." or "-")',
    );
  }
}

/** `db/<name>/`: every object of one database. */
export function databasePrefix(name: string): string {
  return `${DB_ROOT}${name}/`;
}

/** `db/<name>/current.json`: the lineage pointer (written by continuous replication). */
export function currentPointerKey(name: string): string {
  return `${databasePrefix(name)}current.json`;
}

/** `db/<name>/gen/`: every generation of one database. */
export function generationsPrefix(name: string): string {
  return `${databasePrefix(name)}gen/`;
}

/** `db/<name>/gen/<generation>/`: everything of one generation (snapshots and WAL segments). */
export function generationPrefix(name: string, generation: string): string {
  return `${generationsPrefix(name)}${generation}/`;
}

/** Key of a snapshot's compressed database image: `<seq>.db.gz` (gzip, format 1) or (format 2) `<seq>.db.zst` (zstd). */
export function snapshotDataKey(name: string, generation: string, seq: string, encoding: 'gzip' | 'zstd' = 'gzip'): string {
  return `${generationPrefix(name, generation)}snap/${seq}.db.${encoding === 'zstd' ? 'zst' : 'gz'}`;
}

/** Key of a snapshot's manifest, the commit point, written after the data object. */
export function snapshotManifestKey(name: string, generation: string, seq: string): string {
  return `${generationPrefix(name, generation)}snap/${seq}.json`;
}

/**
 * (format 2) Key of a continuation's manifest: a generation that starts from a restored state of another
 * (`base`: that generation's snapshot `seq` and its WAL segments up to a position the manifest names)
 * instead of a data object of its own. The base is in the key so that listings alone tell what a
 * continuation depends on (retention keeps it without reading manifests).
 */
export function continuationManifestKey(name: string, generation: string, seq: string, base: SnapshotRef): string {
  return `${generationPrefix(name, generation)}snap/${seq}.from.${base.generation}.${base.seq}.json`;
}

/**
 * (format 2) Key of an increment's manifest: the pages that changed in `generation` since its restore
 * point `baseSeq` (a full snapshot, a continuation or another increment of the same generation). The
 * base is in the key so that a listing alone tells what an increment depends on.
 */
export function incrementManifestKey(name: string, generation: string, seq: string, baseSeq: string): string {
  return `${generationPrefix(name, generation)}snap/${seq}.after.${baseSeq}.json`;
}

/** (format 2) Key of an increment's data object: the changed pages, compressed. */
export function incrementDataKey(name: string, generation: string, seq: string): string {
  return `${generationPrefix(name, generation)}snap/${seq}.pages.gz`;
}

/** A snapshot named by its generation and seq. */
export interface SnapshotRef {
  generation: string;
  seq: string;
}

/** What a key under `db/` is, when it is a snapshot manifest or data object. */
export interface SnapshotKey {
  name: string;
  generation: string;
  seq: string;
  kind: 'manifest' | 'data';
  /** What the restore point is: a full snapshot, (format 2) a continuation of another generation, or an increment. */
  point: 'full' | 'continuation' | 'increment';
  /** (format 2) Set on a continuation's or an increment's manifest: the restore point its state starts from. */
  base?: SnapshotRef;
}

/** Parses a snapshot manifest or data key; undefined for any other key (WAL segments, pointers, foreign objects). */
export function parseSnapshotKey(key: string): SnapshotKey | undefined {
  const match = SNAPSHOT_KEY.exec(key);
  if (!match) return undefined;
  const [, name, generation, seq, baseGeneration, baseSeq, afterSeq, ext] = match as unknown as [
    string,
    string,
    string,
    string,
    string | undefined,
    string | undefined,
    string | undefined,
    string,
  ];
  if (!NAME.test(name) || !GENERATION.test(generation) || parseTimeId(seq) === undefined) return undefined;
  if (afterSeq !== undefined) {
    if (ext !== 'json' || parseTimeId(afterSeq) === undefined || afterSeq >= seq) return undefined;
    return { name, generation, seq, kind: 'manifest', point: 'increment', base: { generation, seq: afterSeq } };
  }
  if (baseGeneration === undefined || baseSeq === undefined) {
    if (ext === 'json') return { name, generation, seq, kind: 'manifest', point: 'full' };
    return { name, generation, seq, kind: 'data', point: ext === 'pages.gz' ? 'increment' : 'full' };
  }
  if (ext !== 'json' || !GENERATION.test(baseGeneration) || parseTimeId(baseSeq) === undefined) return undefined;
  return { name, generation, seq, kind: 'manifest', point: 'continuation', base: { generation: baseGeneration, seq: baseSeq } };
}

/** Parses a snapshot id `<generation>/<seq>`; undefined when `id` is not one. */
export function parseSnapshotId(id: string): SnapshotRef | undefined {
  const [generation, seq, ...rest] = id.split('/');
  if (rest.length > 0 || generation === undefined || seq === undefined || !GENERATION.test(generation) || parseTimeId(seq) === undefined)
    return undefined;
  return { generation, seq };
}

/** The name of the database a key under `db/` belongs to, or undefined. */
export function databaseNameOfKey(key: string): string | undefined {
  if (!key.startsWith(DB_ROOT)) return undefined;
  const name = key.slice(DB_ROOT.length).split('/', 1)[0] ?? '';
  return NAME.test(name) ? name : undefined;
}

/** Encodes a time as `YYYYMMDDTHHMMSSmmmZ` (UTC), which sorts lexicographically by time. */
export function timeId(date: Date): string {
  return date.toISOString().replace(/[-:.]/g, '');
}

/** Decodes a `timeId`; undefined when `text` is not one. */
export function parseTimeId(text: string): Date | undefined {
  const m = TIME_ID.exec(text);
  if (!m) return undefined;
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  return Number.isNaN(date.getTime()) || timeId(date) !== text ? undefined : date;
}

/** A new generation id: its start time (so generations sort by age) and 8 random hex digits (so two instances never collide). */
export function newGenerationId(now: Date = new Date()): string {
  return `${timeId(now)}-${randomBytes(4).toString('hex')}`;
}

/** The time a generation started, from its id. */
export function generationTime(generation: string): Date | undefined {
  return GENERATION.test(generation) ? parseTimeId(generation.slice(0, 19)) : undefined;
}

/**
 * The seq of the next snapshot in a generation: the time the snapshot's read transaction began,
 * bumped by a millisecond when the clock has not moved past the previous seq, so seqs strictly increase.
 */
export function nextSnapshotSeq(now: Date, previous?: string): string {
  const prev = previous === undefined ? undefined : parseTimeId(previous);
  const time = prev !== undefined && now.getTime() <= prev.getTime() ? new Date(prev.getTime() + 1) : now;
  return timeId(time);
}

/** A snapshot's id as users see and pass it: `<generation>/<seq>`. */
export function snapshotId(generation: string, seq: string): string {
  return `${generation}/${seq}`;
}
