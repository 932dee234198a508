import type { Logger } from 'pino';
import { PersistdError } from '../errors.js';
import type { SnapshotManifest } from '../format/db-manifest.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkDatabaseFile, type TableRowCount } from './check-database.js';
import { downloadSnapshot } from './download-snapshot.js';
import { resolveSnapshot } from './snapshot-catalog.js';
import { allocateTempPath, releaseTempPath, sqliteTempDir, VERIFY_TEMP_PREFIX } from './temp-files.js';

/** Options of `verifySnapshot`. */
export interface VerifyOptions {
  store: ObjectStore;
  name: string;
  /** Verify this snapshot instead of the newest. */
  snapshotId?: string;
  /** `<stateDir>/tmp` holds the restored copy while it is checked. */
  stateDir: string;
  quickCheck?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
}

/** A snapshot that verified: both checksums, page count, integrity check, and what it holds. */
export interface VerifyResult {
  snapshotId: string;
  manifest: SnapshotManifest;
  tables: TableRowCount[];
  durationMs: number;
}

/**
 * Restores a snapshot (the newest, or `snapshotId`) into a temp file and checks it as a restore
 * would, then counts rows per table. Throws kind `no-backup` when there is no such snapshot,
 * `integrity` when it does not verify, `storage` when it cannot be read. The temp file is always removed.
 */
export async function verifySnapshot(options: VerifyOptions): Promise<VerifyResult> {
  const { store, name, signal } = options;
  const logger = options.logger ?? silentLogger();
  const started = Date.now();
  const chosen = await resolveSnapshot(store, name, { snapshotId: options.snapshotId }, signal);
  if (!chosen) {
    throw new PersistdError(`cannot verify ${name}: the store has no ${options.snapshotId === undefined ? 'snapshot' : `snapshot ${options.snapshotId}`} of it`, {
      kind: 'no-backup', op: 'verify', path: store.description,
      hint: 'check the database name and the store URL (`persistd snapshots` lists what exists)',
    });
  }
  const { entry, manifest } = chosen;
  const temp = allocateTempPath(await sqliteTempDir(options.stateDir), VERIFY_TEMP_PREFIX, '.db');
  try {
    await downloadSnapshot(store, name, entry, manifest, temp, signal);
    const tables = await checkDatabaseFile(temp, {
      quick: options.quickCheck, countRows: true, expectedPageCount: manifest.db.pageCount, label: `snapshot ${entry.id} of ${name}`,
    });
    const durationMs = Date.now() - started;
    logger.info({ db: name, snapshot: entry.id, tables: tables.length, ms: durationMs }, 'snapshot verified');
    return { snapshotId: entry.id, manifest, tables, durationMs };
  } finally {
    await releaseTempPath(temp);
  }
}
