import type { Logger } from 'pino';
import { PersistdError } from '../errors.js';
import type { SnapshotManifest } from '../format/db-manifest.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import type { TableRowCount } from './check-database.js';
import { rebuildDatabase } from './rebuild-database.js';
import { chooseRestorePoint } from './restore-point.js';
import { allocateTempPath, releaseTempPath, sqliteTempDir, VERIFY_TEMP_PREFIX } from './temp-files.js';

/** Options of `verifySnapshot`. */
export interface VerifyOptions {
  store: ObjectStore;
  name: string;
  /** Verify this snapshot alone instead of the latest state. */
  snapshotId?: string;
  /** The lineage pointer's generation (see `chooseRestorePoint`). */
  preferredGeneration?: string;
  /** `<stateDir>/tmp` holds the restored copy while it is checked. */
  stateDir: string;
  quickCheck?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
}

/** A restore point that verified: both checksums, every WAL segment, page count, integrity check, and what it holds. */
export interface VerifyResult {
  snapshotId: string;
  manifest: SnapshotManifest;
  /** WAL segments and transactions of the generation applied after the snapshot. */
  segmentsApplied: number;
  transactionsApplied: number;
  /** The time the verified state is as of. */
  restoredTo: Date;
  tables: TableRowCount[];
  durationMs: number;
}

/**
 * Restores the latest state (newest generation: its newest snapshot and every WAL segment after it)
 * or one snapshot (`snapshotId`) into a temp file and checks it as a restore would, except that a
 * missing or damaged WAL segment fails instead of ending the replay early; then counts rows per
 * table. Throws kind `no-backup` when there is nothing to verify, `integrity` when it does not
 * verify, `storage` when it cannot be read. The temp file is always removed.
 */
export async function verifySnapshot(options: VerifyOptions): Promise<VerifyResult> {
  const { store, name, signal } = options;
  const logger = options.logger ?? silentLogger();
  const started = Date.now();
  const point = await chooseRestorePoint(
    store,
    name,
    { snapshotId: options.snapshotId, preferredGeneration: options.preferredGeneration },
    signal,
  );
  if (!point) {
    throw new PersistdError(
      `cannot verify ${name}: the store has no ${options.snapshotId === undefined ? 'snapshot' : `snapshot ${options.snapshotId}`} of it`,
      {
        kind: 'no-backup',
        op: 'verify',
        path: store.description,
        hint: 'check the database name and the store URL (`persistd snapshots` lists what exists)',
      },
    );
  }
  const temp = allocateTempPath(await sqliteTempDir(options.stateDir), VERIFY_TEMP_PREFIX, '.db');
  try {
    const rebuilt = await rebuildDatabase({
      store,
      name,
      point,
      dest: temp,
      strict: true,
      quickCheck: options.quickCheck,
      countRows: true,
      logger,
      signal,
    });
    const durationMs = Date.now() - started;
    logger.info(
      { db: name, snapshot: point.entry.id, segments: rebuilt.segmentsApplied, tables: rebuilt.tables.length, ms: durationMs },
      'replica verified',
    );
    return {
      snapshotId: point.entry.id,
      manifest: point.manifest,
      segmentsApplied: rebuilt.segmentsApplied,
      transactionsApplied: rebuilt.transactionsApplied,
      restoredTo: rebuilt.restoredTo,
      tables: rebuilt.tables,
      durationMs,
    };
  } finally {
    await releaseTempPath(temp);
  }
}
