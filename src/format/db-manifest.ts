/**
 * The manifest of one SQLite snapshot: the commit point of the snapshot, written after its data
 * object, and everything a restore checks the data against (docs/FORMAT.md, "SQLite databases").
 */
import { PersistdError } from '../errors.js';
import type { SnapshotRef } from './db-keys.js';

/** The format version of full snapshot manifests (unchanged since format 1). */
export const DB_FORMAT_VERSION = 1;
/** The newest manifest format this persistd reads (format 2 adds continuations). */
export const DB_FORMAT_MAX = 2;

/** The compressed database image a manifest commits. */
export type SnapshotDataInfo = StreamDataInfo | ChunkedDataInfo;

/** A data object read as one stream: gzip members (format 1) or zstd frames without an index (early format 2). */
export interface StreamDataInfo {
  /** File name of the data object, relative to the manifest's folder (`<seq>.db.gz`, or (format 2) `<seq>.db.zst`). */
  key: string;
  /** `gzip` (format 1), or (format 2) `zstd`: one zstd frame per MiB of the database, concatenated. */
  encoding: 'gzip' | 'zstd';
  /** Bytes of the compressed object. */
  size: number;
  /** Hex sha256 of the compressed object. */
  sha256: string;
  chunks?: undefined;
}

/**
 * (format 2) A data object of independent zstd frames with their index: a restore fetches ranges in
 * parallel and decompresses and verifies each chunk on its own (docs/FORMAT.md, "Chunked snapshots").
 */
export interface ChunkedDataInfo {
  /** `<seq>.db.zst`. */
  key: string;
  encoding: 'zstd';
  /** Bytes of the compressed object: the sum of `chunks.compressed`. */
  size: number;
  chunks: SnapshotChunks;
  sha256?: undefined;
}

/** The index of a chunked data object: chunk i holds the database's bytes [i * size, (i + 1) * size). */
export interface SnapshotChunks {
  /** Uncompressed bytes per chunk (the last one may be shorter). */
  size: number;
  /** Compressed bytes of each chunk's zstd frame, in order: chunk i starts at the sum of the ones before. */
  compressed: number[];
  /** Hex sha256 of each chunk's uncompressed bytes. */
  sha256: string[];
}

/** What the database image is. */
export interface SnapshotDbInfo {
  /** Bytes of the uncompressed database file. */
  size: number;
  /** Hex sha256 of the uncompressed database file; absent for a chunked snapshot, whose chunks carry theirs. */
  sha256?: string;
  pageSize: number;
  pageCount: number;
  /** Journal mode of the source database when the snapshot was taken (`wal`, `delete`, ...). */
  journalMode: string;
  /** `sqlite_version()` of the library that took the snapshot. */
  sqliteVersion: string;
}

/**
 * A manifest: a full snapshot (a data object of its own), a continuation of another generation's
 * restored state, or an increment (the pages changed since an earlier restore point).
 */
export type SnapshotManifest = FullSnapshotManifest | ContinuationManifest | IncrementManifest;

/**
 * (format 2) A compaction point that stores only what changed: the pages written in its generation
 * between its base restore point (`base.seq`, same generation) and its own WAL position, each as it is
 * at that position. Stored at `<seq>.after.<base seq>.json`, data in `<seq>.pages.gz` (FORMAT.md).
 */
export interface IncrementManifest {
  format: 2;
  kind: 'sqlite-increment';
  database: string;
  generation: string;
  seq: string;
  createdAt: string;
  createdBy: string;
  /** The restore point of the same generation this increment applies on. */
  base: { seq: string };
  data: { key: string; encoding: 'gzip'; size: number; sha256: string; pages: number };
  /** The database after applying the pages (no sha256 of the whole file: the chain and `integrity_check` verify it). */
  db: Omit<SnapshotDbInfo, 'sha256'>;
  /** The chain this increment ends: see `ChainTally`. */
  chain: ChainTally;
}

/**
 * (format 2) What a restore of a point reads beyond one full copy: the increments (and their page bytes)
 * since the full snapshot its chain starts from, across continuations, and that snapshot's time. The
 * writer stores a full snapshot again when they grow past its limits.
 */
export interface ChainTally {
  /** ISO time of the full snapshot the chain starts from. */
  fullAt: string;
  increments: number;
  pageBytes: number;
}

/**
 * (format 2) Where a continuation starts: the state a restore built from `generation`'s snapshot `seq`
 * followed by that generation's WAL segments up to `wal` (none when null).
 */
export interface ContinuationBase extends SnapshotRef {
  /** The last WAL frame of `generation` the base state holds (epoch and frame), or null for the snapshot alone. */
  wal: { epoch: number; frame: number } | null;
  /** Every transaction of `generation` shipped up to this time is in the base state. */
  restoredTo: string;
}

/**
 * (format 2) The first manifest of a generation that continues a restored state instead of storing
 * the database again: no data object; `base` says what it holds, `wal` where this generation's own
 * WAL stream starts. Stored at `<seq>.from.<base generation>.<base seq>.json`.
 */
export interface ContinuationManifest {
  format: 2;
  kind: 'sqlite-continuation';
  database: string;
  generation: string;
  seq: string;
  createdAt: string;
  createdBy: string;
  base: ContinuationBase;
  /** The database as the continuation started it (no sha256: the base chain is what is verified). */
  db: Omit<SnapshotDbInfo, 'sha256'>;
  /** The chain of increments the restored base state ends, when known: the new generation's increments add to it. */
  chain?: ChainTally;
}

/** A full snapshot's manifest as stored in `<seq>.json`. */
export interface FullSnapshotManifest {
  /** 1, or 2 when the data is zstd (so that a persistd that reads only format 1 refuses it). */
  format: typeof DB_FORMAT_VERSION | 2;
  kind: 'sqlite-snapshot';
  database: string;
  generation: string;
  seq: string;
  /** ISO time at which the snapshot's read transaction began: the database state it holds. */
  createdAt: string;
  /** `persistd <version>` that wrote it. */
  createdBy: string;
  data: SnapshotDataInfo;
  db: SnapshotDbInfo;
}

/** Serializes a manifest (pretty, so a bucket stays readable by people). */
export function serializeManifest(manifest: SnapshotManifest | (SnapshotManifest & { wal: unknown })): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Where a manifest was read from, to check that it describes the snapshot its key names. */
export interface ManifestLocation {
  key: string;
  name: string;
  generation: string;
  seq: string;
  /** The base the key of a continuation's or an increment's manifest names. */
  base?: SnapshotRef;
  /** What the key says the manifest is (default: a full snapshot, or a continuation when `base` is set). */
  point?: 'full' | 'continuation' | 'increment';
}

/**
 * Parses and validates a manifest. Throws PersistdError kind `integrity` when it is not a valid
 * manifest or belongs to another key, and kind `usage` (upgrade persistd) when its format is newer.
 */
export function parseManifest(text: string, where: ManifestLocation): SnapshotManifest {
  const fail = (why: string, hint?: string): PersistdError =>
    new PersistdError(`snapshot manifest ${where.key} is not usable: ${why}`, {
      kind: 'integrity',
      op: 'read manifest',
      path: where.key,
      hint: hint ?? 'restore an older snapshot (`persistd snapshots` lists them) with --snapshot <id>',
    });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw fail('it is not valid JSON');
  }
  if (!isObject(raw)) throw fail('it is not a JSON object');
  if (typeof raw['format'] === 'number' && raw['format'] > DB_FORMAT_MAX) {
    // Newer than this persistd, like a newer replica marker: a usage problem (upgrade), not damage.
    throw new PersistdError(
      `snapshot manifest ${where.key} has format version ${raw['format']}, newer than this persistd reads (${DB_FORMAT_MAX})`,
      {
        kind: 'usage',
        op: 'read manifest',
        path: where.key,
        hint: `it was written by ${typeof raw['createdBy'] === 'string' ? raw['createdBy'] : 'a newer persistd'}; upgrade persistd to read it`,
      },
    );
  }
  if (raw['kind'] === 'sqlite-increment' || where.point === 'increment') return parseIncrement(raw, where, fail);
  if (raw['kind'] === 'sqlite-continuation' || where.base !== undefined) return parseContinuation(raw, where, fail);
  if (raw['format'] !== DB_FORMAT_VERSION && raw['format'] !== DB_FORMAT_MAX) {
    throw fail(
      `it has format version ${JSON.stringify(raw['format'])}, and this persistd reads versions ${DB_FORMAT_VERSION} to ${DB_FORMAT_MAX}`,
      `it was written by ${typeof raw['createdBy'] === 'string' ? raw['createdBy'] : 'another persistd'}; use a persistd that reads this format`,
    );
  }
  const data = raw['data'];
  const db = raw['db'];
  if (raw['kind'] !== 'sqlite-snapshot' || !isObject(data) || !isObject(db)) throw fail('fields "kind", "data" or "db" are missing');
  if (raw['database'] !== where.name || raw['generation'] !== where.generation || raw['seq'] !== where.seq) {
    throw fail('it names another database, generation or seq than its key');
  }
  const gzipData = data['key'] === `${where.seq}.db.gz` && data['encoding'] === 'gzip';
  const zstdData = data['key'] === `${where.seq}.db.zst` && data['encoding'] === 'zstd' && raw['format'] === 2;
  if (!gzipData && !zstdData) throw fail('its data key or encoding is not the one this format defines');
  const chunked = zstdData && data['chunks'] !== undefined;
  const checks: [boolean, string][] = [
    [typeof raw['createdAt'] === 'string' && !Number.isNaN(Date.parse(raw['createdAt'])), 'createdAt'],
    [typeof raw['createdBy'] === 'string', 'createdBy'],
    [isSize(data['size']), 'data.size'],
    [chunked ? data['sha256'] === undefined : isSha256(data['sha256']), 'data.sha256'],
    [isSize(db['size']), 'db.size'],
    [chunked ? db['sha256'] === undefined : isSha256(db['sha256']), 'db.sha256'],
    [isSize(db['pageSize']) && (db['pageSize'] as number) >= 512, 'db.pageSize'],
    [isSize(db['pageCount']), 'db.pageCount'],
    [typeof db['journalMode'] === 'string', 'db.journalMode'],
    [typeof db['sqliteVersion'] === 'string', 'db.sqliteVersion'],
  ];
  if (chunked) checks.push([isChunkIndex(data['chunks'], data['size'], db['size']), 'data.chunks']);
  if (raw['wal'] !== undefined) checks.push([isWalPosition(raw['wal']), 'wal']);
  const bad = checks.filter(([ok]) => !ok).map(([, field]) => field);
  if (bad.length > 0) throw fail(`invalid or missing ${bad.join(', ')}`);
  return raw as unknown as FullSnapshotManifest;
}

function parseContinuation(
  raw: Record<string, unknown>,
  where: ManifestLocation,
  fail: (why: string) => PersistdError,
): ContinuationManifest {
  const base = raw['base'];
  const db = raw['db'];
  if (raw['format'] !== 2 || raw['kind'] !== 'sqlite-continuation' || !isObject(base) || !isObject(db))
    throw fail('it is not a format 2 continuation with "base" and "db"');
  if (raw['database'] !== where.name || raw['generation'] !== where.generation || raw['seq'] !== where.seq) {
    throw fail('it names another database, generation or seq than its key');
  }
  if (where.base === undefined || base['generation'] !== where.base.generation || base['seq'] !== where.base.seq)
    throw fail('its base differs from the one its key names');
  const wal = base['wal'];
  const walOk =
    wal === null ||
    (isObject(wal) &&
      isSize(wal['epoch']) &&
      isSize(wal['frame']) &&
      (wal['epoch'] as number) <= 0xffffffff &&
      (wal['frame'] as number) <= 0xffffffff);
  const checks: [boolean, string][] = [
    [typeof raw['createdAt'] === 'string' && !Number.isNaN(Date.parse(raw['createdAt'])), 'createdAt'],
    [typeof raw['createdBy'] === 'string', 'createdBy'],
    [walOk, 'base.wal'],
    [typeof base['restoredTo'] === 'string' && !Number.isNaN(Date.parse(base['restoredTo'])), 'base.restoredTo'],
    [isSize(db['size']), 'db.size'],
    [isSize(db['pageSize']) && (db['pageSize'] as number) >= 512, 'db.pageSize'],
    [isSize(db['pageCount']), 'db.pageCount'],
    [typeof db['journalMode'] === 'string', 'db.journalMode'],
    [typeof db['sqliteVersion'] === 'string', 'db.sqliteVersion'],
  ];
  checks.push([isWalPosition(raw['wal']), 'wal']);
  if (raw['chain'] !== undefined) checks.push([isChainTally(raw['chain']), 'chain']);
  const bad = checks.filter(([ok]) => !ok).map(([, field]) => field);
  if (bad.length > 0) throw fail(`invalid or missing ${bad.join(', ')}`);
  return raw as unknown as ContinuationManifest;
}

function parseIncrement(raw: Record<string, unknown>, where: ManifestLocation, fail: (why: string) => PersistdError): IncrementManifest {
  const { base, db, data, chain } = raw;
  if (
    raw['format'] !== 2 ||
    raw['kind'] !== 'sqlite-increment' ||
    where.point !== 'increment' ||
    !isObject(base) ||
    !isObject(db) ||
    !isObject(data) ||
    !isObject(chain)
  ) {
    throw fail('it is not a format 2 increment with "base", "data", "db" and "chain" under an increment\'s key');
  }
  if (raw['database'] !== where.name || raw['generation'] !== where.generation || raw['seq'] !== where.seq) {
    throw fail('it names another database, generation or seq than its key');
  }
  if (where.base === undefined || where.base.generation !== where.generation || base['seq'] !== where.base.seq)
    throw fail('its base differs from the one its key names');
  if (data['key'] !== `${where.seq}.pages.gz` || data['encoding'] !== 'gzip')
    throw fail('its data key or encoding is not the one this format defines');
  const checks: [boolean, string][] = [
    [typeof raw['createdAt'] === 'string' && !Number.isNaN(Date.parse(raw['createdAt'])), 'createdAt'],
    [typeof raw['createdBy'] === 'string', 'createdBy'],
    [isSize(data['size']), 'data.size'],
    [isSha256(data['sha256']), 'data.sha256'],
    [isSize(data['pages']), 'data.pages'],
    [isSize(db['size']), 'db.size'],
    [isSize(db['pageSize']) && (db['pageSize'] as number) >= 512, 'db.pageSize'],
    [isSize(db['pageCount']), 'db.pageCount'],
    [db['size'] === (db['pageSize'] as number) * (db['pageCount'] as number), 'db.size (page size times page count)'],
    [typeof db['journalMode'] === 'string', 'db.journalMode'],
    [typeof db['sqliteVersion'] === 'string', 'db.sqliteVersion'],
    [isChainTally(chain) && (chain['increments'] as number) >= 1, 'chain'],
    [isWalPosition(raw['wal']), 'wal'],
  ];
  const bad = checks.filter(([ok]) => !ok).map(([, field]) => field);
  if (bad.length > 0) throw fail(`invalid or missing ${bad.join(', ')}`);
  return raw as unknown as IncrementManifest;
}

/**
 * A manifest's `wal` position (docs/FORMAT.md, "WAL segments"): epoch and frame are u32 counts, the
 * salts u32 or both null. Present and invalid is damage, never "no position" (that would silently
 * drop every segment after the snapshot).
 */
function isWalPosition(value: unknown): boolean {
  if (!isObject(value)) return false;
  const u32 = (v: unknown): boolean => isSize(v) && (v as number) <= 0xffffffff;
  const salts = (value['salt1'] === null && value['salt2'] === null) || (u32(value['salt1']) && u32(value['salt2']));
  return u32(value['epoch']) && u32(value['frame']) && salts;
}

function isChainTally(value: unknown): boolean {
  return (
    isObject(value) &&
    typeof value['fullAt'] === 'string' &&
    !Number.isNaN(Date.parse(value['fullAt'])) &&
    isSize(value['increments']) &&
    isSize(value['pageBytes'])
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSize(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Chunks of one size covering `dbSize` bytes exactly, compressed sizes adding up to `dataSize`, a sha256 each. */
function isChunkIndex(value: unknown, dataSize: unknown, dbSize: unknown): boolean {
  if (!isObject(value) || !isSize(value['size']) || (value['size'] as number) < 4096) return false;
  const { compressed, sha256 } = value;
  if (!Array.isArray(compressed) || !Array.isArray(sha256) || compressed.length !== sha256.length) return false;
  if (!isSize(dbSize) || compressed.length !== Math.ceil((dbSize as number) / (value['size'] as number))) return false;
  if (!compressed.every((n) => isSize(n) && n > 0) || !sha256.every(isSha256)) return false;
  return compressed.reduce((sum: number, n: number) => sum + n, 0) === dataSize;
}

function isSha256(value: unknown): boolean {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}
