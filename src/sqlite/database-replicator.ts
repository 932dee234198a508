import type { Logger } from 'pino';
import { messageOf, PersistdError } from '../errors.js';
import { assertDatabaseName } from '../format/db-keys.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { applyRetention } from './apply-retention.js';
import { LiveDatabase } from './live-database.js';
import { snapshotLiveDatabase, type SnapshotMemory, type SnapshotResult } from './snapshot-database.js';

/** Options of a DatabaseReplicator. */
export interface ReplicatorOptions {
  store: ObjectStore;
  name: string;
  path: string;
  stateDir: string;
  logger?: Logger;
  /** Applied after every snapshot that stored something; off when absent. */
  retention?: { retentionMs: number; minKeep: number };
  gzipLevel?: number;
}

/** A replicator's state, for `status`, metrics and health checks. */
export interface ReplicatorStatus {
  name: string;
  path: string;
  /** Whether the database existed at the last attempt. */
  exists: boolean;
  /** Whether a snapshot is running now. */
  running: boolean;
  lastSnapshotId: string | undefined;
  /** End of the last attempt that succeeded (stored or found nothing to store). */
  lastSuccessAt: Date | undefined;
  /** End of the last attempt that stored a snapshot. */
  lastSnapshotAt: Date | undefined;
  lastError: { message: string; at: Date } | undefined;
  consecutiveFailures: number;
  snapshotsStored: number;
  snapshotsSkippedUnchanged: number;
  /** Compressed bytes uploaded by this replicator since it was created. */
  bytesUploaded: number;
  /** Uncompressed size of the database at its last snapshot. */
  lastDatabaseBytes: number | undefined;
}

/**
 * Snapshots one database for the `run` command: one at a time (a call while a snapshot runs joins
 * it), nothing while the database does not exist yet, no request while it is unchanged, retention
 * after each stored snapshot, and a final snapshot at shutdown under its own deadline.
 */
export class DatabaseReplicator {
  private readonly logger: Logger;
  private live: LiveDatabase | undefined;
  private memory: SnapshotMemory = {};
  private inFlight: Promise<SnapshotResult> | undefined;
  private closed = false;
  private readonly stats: ReplicatorStatus;

  constructor(private readonly options: ReplicatorOptions) {
    assertDatabaseName(options.name);
    this.logger = (options.logger ?? silentLogger()).child({ db: options.name });
    this.stats = {
      name: options.name,
      path: options.path,
      exists: false,
      running: false,
      lastSnapshotId: undefined,
      lastSuccessAt: undefined,
      lastSnapshotAt: undefined,
      lastError: undefined,
      consecutiveFailures: 0,
      snapshotsStored: 0,
      snapshotsSkippedUnchanged: 0,
      bytesUploaded: 0,
      lastDatabaseBytes: undefined,
    };
  }

  /** Takes a snapshot if the database changed; joins the running one if there is one. */
  snapshotOnce(options: { signal?: AbortSignal; force?: boolean } = {}): Promise<SnapshotResult> {
    if (this.inFlight) return this.inFlight;
    const run = this.run(options).finally(() => {
      this.inFlight = undefined;
      this.stats.running = false;
    });
    this.inFlight = run;
    this.stats.running = true;
    return run;
  }

  /**
   * The shutdown snapshot: waits for a running snapshot, then takes one more if anything changed,
   * aborting when `deadline` passes (a Date, or milliseconds since the epoch).
   */
  async finalSnapshot(options: { deadline: Date | number }): Promise<SnapshotResult> {
    const deadline = typeof options.deadline === 'number' ? options.deadline : options.deadline.getTime();
    if (deadline <= Date.now())
      throw new PersistdError(`final snapshot of ${this.options.name} skipped: its deadline has passed`, {
        kind: 'interrupted',
        op: 'final snapshot',
        path: this.options.path,
      });
    const signal = AbortSignal.timeout(deadline - Date.now());
    if (this.inFlight) {
      const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      await Promise.race([this.inFlight.catch(() => undefined), aborted]);
    }
    signal.throwIfAborted();
    return this.snapshotOnce({ signal });
  }

  /** A copy of the current status. */
  status(): ReplicatorStatus {
    return { ...this.stats };
  }

  /** Waits for a running snapshot and closes the database connection; later calls take no snapshot. */
  async close(): Promise<void> {
    this.closed = true;
    await this.inFlight?.catch(() => undefined);
    this.live?.close();
    this.live = undefined;
  }

  private async run(options: { signal?: AbortSignal; force?: boolean }): Promise<SnapshotResult> {
    if (this.closed) return { outcome: 'missing' };
    try {
      const live = await this.currentDatabase();
      this.stats.exists = live !== undefined;
      const result: SnapshotResult = live
        ? await snapshotLiveDatabase(
            live,
            { ...this.options, logger: this.logger, signal: options.signal, force: options.force },
            this.memory,
          )
        : { outcome: 'missing' };
      this.recordSuccess(result);
      if (result.outcome === 'created' && this.options.retention) await this.retain(options.signal);
      return result;
    } catch (err) {
      this.stats.lastError = { message: messageOf(err), at: new Date() };
      this.stats.consecutiveFailures++;
      throw err;
    }
  }

  /** The open database, reopened when the path now names another file (deleted and recreated, or restored). */
  private async currentDatabase(): Promise<LiveDatabase | undefined> {
    if (this.live && (await this.live.isCurrentFile())) return this.live;
    if (this.live) {
      this.logger.info('database file was replaced; the next snapshot starts a new generation');
      this.live.close();
      this.live = undefined;
      this.memory = {};
    }
    this.live = await LiveDatabase.open(this.options.path);
    return this.live;
  }

  private recordSuccess(result: SnapshotResult): void {
    const now = new Date();
    this.stats.lastSuccessAt = now;
    this.stats.consecutiveFailures = 0;
    this.stats.lastError = undefined;
    if (result.outcome === 'created') {
      this.stats.lastSnapshotId = result.snapshotId;
      this.stats.lastSnapshotAt = now;
      this.stats.snapshotsStored++;
      this.stats.bytesUploaded += result.manifest.data.size;
      this.stats.lastDatabaseBytes = result.manifest.db.size;
    } else if (result.outcome === 'unchanged') {
      this.stats.lastSnapshotId = result.snapshotId;
      this.stats.snapshotsSkippedUnchanged++;
    }
  }

  private async retain(signal: AbortSignal | undefined): Promise<void> {
    const { retentionMs, minKeep } = this.options.retention!;
    try {
      await applyRetention({ store: this.options.store, name: this.options.name, retentionMs, minKeep, logger: this.logger, signal });
    } catch (err) {
      // The snapshot itself succeeded; retention is retried after the next one.
      this.logger.warn({ err: messageOf(err) }, 'retention failed');
    }
  }
}
