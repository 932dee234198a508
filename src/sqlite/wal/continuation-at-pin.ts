import type { Logger } from 'pino';
import { continuationManifestKey, nextSnapshotSeq, snapshotId } from '../../format/db-keys.js';
import { serializeManifest, type ChainTally, type ContinuationBase, type ContinuationManifest } from '../../format/db-manifest.js';
import type { WalPosition } from '../../format/db-wal-position.js';
import type { ObjectStore } from '../../store/object-store.js';
import { PERSISTD_VERSION } from '../../version.js';
import type { WalConnection } from './wal-connection.js';

/** A continuation manifest with the position its own WAL stream starts at. */
export type WalContinuationManifest = ContinuationManifest & { wal: WalPosition };

/** Options of `continuationAtPin`. */
export interface ContinuationAtPinOptions {
  store: ObjectStore;
  name: string;
  generation: string;
  /** When the pin was taken: nothing was committed after the restore and before it. */
  pinnedAt: Date;
  /** The restored state the pinned database is. */
  base: ContinuationBase;
  /** The chain of increments that state ends, when known. */
  chain?: ChainTally;
  position: WalPosition;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Starts a generation without storing the database again (format 2): the pinned database is exactly
 * the state a restore built from `base`, so one manifest that names that base (and where this
 * generation's WAL stream starts) is the whole first restore point. One small PUT, whatever the
 * database's size; the caller proved that nothing touched the file since the restore.
 */
export async function continuationAtPin(
  conn: WalConnection,
  options: ContinuationAtPinOptions,
): Promise<{ manifest: WalContinuationManifest; snapshotId: string; seq: string }> {
  const { store, name, generation, base } = options;
  const seq = nextSnapshotSeq(options.pinnedAt);
  const shape = conn.describe();
  const manifest: WalContinuationManifest = {
    format: 2,
    kind: 'sqlite-continuation',
    database: name,
    generation,
    seq,
    createdAt: options.pinnedAt.toISOString(),
    createdBy: `persistd ${PERSISTD_VERSION}`,
    base,
    db: {
      size: shape.pageSize * shape.pageCount,
      pageSize: shape.pageSize,
      pageCount: shape.pageCount,
      journalMode: 'wal',
      sqliteVersion: shape.sqliteVersion,
    },
    wal: options.position,
    ...(options.chain ? { chain: options.chain } : {}),
  };
  await store.put(continuationManifestKey(name, generation, seq, base), serializeManifest(manifest), {
    contentType: 'application/json',
    ifNoneMatch: '*',
    signal: options.signal,
  });
  options.logger.debug({ generation, base }, 'continuation stored');
  return { manifest, snapshotId: snapshotId(generation, seq), seq };
}
