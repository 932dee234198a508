import type { Logger } from 'pino';
import { PersistdError } from '../../errors.js';
import { nextSnapshotSeq, snapshotDataKey, snapshotId, snapshotManifestKey } from '../../format/db-keys.js';
import { DB_FORMAT_VERSION, serializeManifest, type FullSnapshotManifest } from '../../format/db-manifest.js';
import type { WalPosition } from '../../format/db-wal-position.js';
import type { ObjectStore } from '../../store/object-store.js';
import { PERSISTD_VERSION } from '../../version.js';
import { allocateTempPath, releaseTempPath, SNAPSHOT_TEMP_PREFIX, sqliteTempDir } from '../temp-files.js';
import { SNAPSHOT_ENCODING, type SnapshotEncoding } from '../snapshot-codec.js';
import { uploadSnapshotData } from '../upload-snapshot-data.js';
import type { WalConnection } from './wal-connection.js';
import { WalImage } from '../wal-image.js';

/** A snapshot manifest that records the WAL position it was taken at (docs/FORMAT.md, "WAL segments"). */
export type WalSnapshotManifest = FullSnapshotManifest & { wal: WalPosition };

/** Options of `snapshotAtPin`. */
export interface SnapshotAtPinOptions {
  store: ObjectStore;
  name: string;
  path: string;
  stateDir: string;
  generation: string;
  /** When the pin was taken: the snapshot holds every transaction committed before it. */
  pinnedAt: Date;
  previousSeq?: string;
  position: WalPosition;
  gzipLevel?: number;
  /** The pin was placed under the write lock (`WalPin.pinExactly`'s `sealed`): the image can be read in place. */
  sealed?: boolean;
  /** How the data object is compressed (default `SNAPSHOT_ENCODING`, zstd). */
  encoding?: SnapshotEncoding;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Takes a snapshot of the database exactly as the shipper's pinned read transaction sees it (so its
 * WAL position is known to the frame), uploads it and then its manifest with the `wal` position:
 * the same objects and commit rule as `snapshotDatabase`, plus where the WAL segments continue.
 */
export async function snapshotAtPin(
  conn: WalConnection,
  options: SnapshotAtPinOptions,
): Promise<{ manifest: WalSnapshotManifest; snapshotId: string; seq: string; inPlace: boolean }> {
  const { store, name, generation, signal } = options;
  const temp = allocateTempPath(await sqliteTempDir(options.stateDir), SNAPSHOT_TEMP_PREFIX, '.db');
  const encoding = options.encoding ?? SNAPSHOT_ENCODING;
  // A pin placed under the write lock sees exactly the WAL's frames up to its position: read in place.
  const shape = options.sealed === true && encoding === 'zstd' ? conn.describe() : undefined;
  const image = shape === undefined ? undefined : WalImage.captureAt(options.path, shape.pageSize, shape.pageCount, options.position);
  try {
    const copy = image !== undefined && shape !== undefined ? shape : await conn.backup(temp, 4 << 20, signal);
    const seq = nextSnapshotSeq(options.pinnedAt, options.previousSeq);
    const stored = await uploadSnapshotData(store, snapshotDataKey(name, generation, seq, encoding), seq, image ?? temp, {
      signal,
      logger: options.logger,
      level: options.gzipLevel,
      encoding,
    });
    if (stored.db.size !== copy.pageCount * copy.pageSize) {
      throw new PersistdError(
        `snapshot copy of ${options.path} has ${stored.db.size} bytes, expected ${copy.pageCount} pages of ${copy.pageSize}`,
        {
          kind: 'internal',
          op: 'snapshot',
          path: options.path,
        },
      );
    }
    const manifest: WalSnapshotManifest = {
      format: encoding === 'zstd' ? 2 : DB_FORMAT_VERSION,
      kind: 'sqlite-snapshot',
      database: name,
      generation,
      seq,
      createdAt: options.pinnedAt.toISOString(),
      createdBy: `persistd ${PERSISTD_VERSION}`,
      data: stored.data,
      db: {
        ...stored.db,
        pageSize: copy.pageSize,
        pageCount: copy.pageCount,
        journalMode: 'wal',
        sqliteVersion: copy.sqliteVersion,
      },
      wal: options.position,
    };
    await store.put(snapshotManifestKey(name, generation, seq), serializeManifest(manifest), { contentType: 'application/json', signal });
    return { manifest, snapshotId: snapshotId(generation, seq), seq, inPlace: image !== undefined };
  } finally {
    image?.close();
    await releaseTempPath(temp);
  }
}
