import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { PersistdError } from '../errors.js';
import {
  assertDatabaseName,
  newGenerationId,
  nextSnapshotSeq,
  snapshotDataKey,
  snapshotId,
  snapshotManifestKey,
} from '../format/db-keys.js';
import { DB_FORMAT_VERSION, serializeManifest, type FullSnapshotManifest } from '../format/db-manifest.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { PERSISTD_VERSION } from '../version.js';
import { readFingerprint, sameFingerprint, sameIdentity } from './db-fingerprint.js';
import { LiveDatabase, type CopyInfo } from './live-database.js';
import { readSnapshotState, writeSnapshotState, type SnapshotState } from './snapshot-state.js';
import { allocateTempPath, releaseTempPath, SNAPSHOT_TEMP_PREFIX, sqliteTempDir } from './temp-files.js';
import { SNAPSHOT_ENCODING, type SnapshotEncoding } from './snapshot-codec.js';
import { uploadSnapshotData } from './upload-snapshot-data.js';

/** Options of `snapshotDatabase`. */
export interface SnapshotOptions {
  store: ObjectStore;
  /** The database's name in the replica (`db/<name>/`). */
  name: string;
  /** Local path of the live database. */
  path: string;
  /** persistd's state directory: `<stateDir>/tmp` for the copy, `<stateDir>/sqlite/<name>.json` for what was last snapshotted. */
  stateDir: string;
  logger?: Logger;
  signal?: AbortSignal;
  /** Take a snapshot even when nothing changed since the last one. */
  force?: boolean;
  /** gzip level (default 1). */
  gzipLevel?: number;
  /** gzip members compressed at once (default: one per core, see `defaultCompressionConcurrency`). */
  compressionConcurrency?: number;
  /** How the data object is compressed (default `SNAPSHOT_ENCODING`, zstd; gzip writes a format-1 snapshot). */
  encoding?: SnapshotEncoding;
  /** (tests) zstd without a chunk index, as the first format-2 snapshots were written. */
  unindexed?: boolean;
  /** Copy with SQLite's backup API into the state directory first, also where the WAL image could be read in place. */
  copyOnDisk?: boolean;
}

/** What `snapshotDatabase` did. */
export type SnapshotResult =
  | { outcome: 'created'; snapshotId: string; manifest: FullSnapshotManifest; manifestKey: string; durationMs: number }
  /** Nothing was committed since the last snapshot: no request was made. */
  | { outcome: 'unchanged'; snapshotId: string }
  /** The database does not exist (yet), or is an empty file: nothing to back up. */
  | { outcome: 'missing' };

/** What a long-lived caller (DatabaseReplicator) keeps between snapshots so that change detection needs no disk read. */
export interface SnapshotMemory {
  state?: SnapshotState;
  /** `data_version` read on `live` just before the last snapshot began. */
  dataVersion?: number;
  live?: LiveDatabase;
}

/**
 * Takes a transaction-consistent snapshot of a live database (WAL or rollback journal) and uploads
 * it: compressed data object first, then its manifest (the commit point). Makes no request at all
 * when nothing changed since the last snapshot. A database that was deleted and recreated, or
 * replaced by a restore, starts a new generation.
 */
export async function snapshotDatabase(options: SnapshotOptions): Promise<SnapshotResult> {
  assertDatabaseName(options.name);
  const live = await LiveDatabase.open(options.path);
  if (!live) return { outcome: 'missing' };
  try {
    return await snapshotLiveDatabase(live, options, {});
  } finally {
    live.close();
  }
}

/** `snapshotDatabase` on an already open database, updating `memory`; the building block of DatabaseReplicator. */
export async function snapshotLiveDatabase(live: LiveDatabase, options: SnapshotOptions, memory: SnapshotMemory): Promise<SnapshotResult> {
  const { store, name, path, stateDir, signal } = options;
  const logger = options.logger ?? silentLogger();
  const started = Date.now();
  const state = memory.state ?? (await readSnapshotState(stateDir, name));
  const sameLineage =
    state !== undefined && state.store === store.description && state.path === path && sameIdentity(state.identity, live.identity);
  // Read before the copy's read transaction begins: a commit after this point is seen next time.
  const dataVersion = live.dataVersion();
  const fingerprint = await readFingerprint(path);
  if (sameLineage && options.force !== true) {
    const unchanged =
      memory.live === live && memory.dataVersion !== undefined
        ? dataVersion === memory.dataVersion
        : sameFingerprint(state.fingerprint, fingerprint);
    if (unchanged) return { outcome: 'unchanged', snapshotId: snapshotId(state.generation, state.lastSeq) };
  }

  const generation = sameLineage ? state.generation : newGenerationId();
  const temp = allocateTempPath(await sqliteTempDir(stateDir), SNAPSHOT_TEMP_PREFIX, '.db');
  const encoding = options.encoding ?? SNAPSHOT_ENCODING;
  // A WAL database is read in place (no copy on disk) when it can be; otherwise SQLite's backup API copies it first.
  const direct = encoding === 'zstd' && options.unindexed !== true && options.copyOnDisk !== true ? await live.openImage() : undefined;
  try {
    const copyStarted = Date.now();
    let copy: CopyInfo;
    if (direct !== undefined) {
      copy = direct.info;
    } else {
      try {
        copy = await live.copyTo(temp, { signal });
      } catch (err) {
        if (!isDiskFull(err)) throw err;
        throw tempSpaceError(
          err,
          path,
          temp,
          await stat(path).then(
            (st) => st.size,
            () => undefined,
          ),
        );
      }
    }
    const copyMs = Date.now() - copyStarted;
    const seq = nextSnapshotSeq(copy.startedAt, sameLineage ? state.lastSeq : undefined);
    const dataKey = snapshotDataKey(name, generation, seq, encoding);
    const manifestKey = snapshotManifestKey(name, generation, seq);
    const stored = await uploadSnapshotData(store, dataKey, seq, direct?.image ?? temp, {
      signal,
      logger,
      level: options.gzipLevel,
      compressionConcurrency: options.compressionConcurrency,
      encoding,
      unindexed: options.unindexed,
    });
    if (stored.db.size !== copy.pageCount * copy.pageSize) {
      throw new PersistdError(
        `snapshot copy of ${path} has ${stored.db.size} bytes, expected ${copy.pageCount} pages of ${copy.pageSize}`,
        {
          kind: 'internal',
          op: 'snapshot',
          path,
        },
      );
    }
    const manifest: FullSnapshotManifest = {
      format: encoding === 'zstd' ? 2 : DB_FORMAT_VERSION,
      kind: 'sqlite-snapshot',
      database: name,
      generation,
      seq,
      createdAt: copy.startedAt.toISOString(),
      createdBy: `persistd ${PERSISTD_VERSION}`,
      data: stored.data,
      db: {
        ...stored.db,
        pageSize: copy.pageSize,
        pageCount: copy.pageCount,
        journalMode: copy.journalMode,
        sqliteVersion: copy.sqliteVersion,
      },
    };
    await store.put(manifestKey, serializeManifest(manifest), { contentType: 'application/json', signal });

    const next: SnapshotState = {
      v: 1,
      store: store.description,
      path,
      generation,
      lastSeq: seq,
      identity: live.identity,
      fingerprint,
      at: new Date().toISOString(),
    };
    memory.state = next;
    memory.live = live;
    memory.dataVersion = dataVersion;
    await writeSnapshotState(stateDir, name, next).catch((err: unknown) => {
      logger.warn(
        { db: name, err: (err as Error).message },
        'could not record the snapshot in the state directory; the next start takes a fresh snapshot',
      );
    });
    const result = {
      outcome: 'created' as const,
      snapshotId: snapshotId(generation, seq),
      manifest,
      manifestKey,
      durationMs: Date.now() - started,
    };
    logger.info(
      {
        db: name,
        snapshot: result.snapshotId,
        bytes: manifest.db.size,
        compressed: manifest.data.size,
        ms: result.durationMs,
        copyMs,
        inPlace: direct !== undefined,
        newGeneration: !sameLineage,
      },
      'snapshot stored',
    );
    return result;
  } finally {
    direct?.release();
    await releaseTempPath(temp);
  }
}

/** Whether an error (or its cause) says the disk is full: SQLite's SQLITE_FULL, or ENOSPC / EDQUOT from the OS. */
function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = String((e as { code?: unknown }).code ?? '');
    if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}

/** The error of a snapshot whose temporary copy did not fit in the state directory. */
function tempSpaceError(err: unknown, path: string, temp: string, databaseBytes: number | undefined): PersistdError {
  const needed = databaseBytes === undefined ? '' : ` (about ${Math.ceil(databaseBytes / 2 ** 20)} MiB here)`;
  return new PersistdError(`cannot snapshot ${path}: the disk of its temporary copy ${temp} is full (ENOSPC); nothing was uploaded`, {
    kind: 'internal',
    op: 'snapshot',
    path: temp,
    cause: err,
    hint: `a snapshot needs free space for one uncompressed copy of the database${needed} in <state-dir>/tmp: free space there, or point --state-dir (PERSISTD_STATE_DIR) at a larger disk`,
  });
}
