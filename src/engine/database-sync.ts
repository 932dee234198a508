import type { Logger } from 'pino';
import type { LineagePointer, RestoredFrom } from '../format/db-lineage.js';
import { messageOf } from '../errors.js';
import { applyRetention } from '../sqlite/apply-retention.js';
import { DatabaseReplicator, type ReplicatorStatus } from '../sqlite/database-replicator.js';
import { LineageGuard, type InstanceIdentity } from '../sqlite/lineage-guard.js';
import type { SnapshotResult } from '../sqlite/snapshot-database.js';
import { verifySnapshot } from '../sqlite/verify-snapshot.js';
import { WalShipper, type ContinueFrom, type SyncResult } from '../sqlite/wal/wal-shipper.js';
import type { ObjectStore } from '../store/object-store.js';

/** Options of a DatabaseSync. */
export interface DatabaseSyncOptions {
  store: ObjectStore;
  name: string;
  path: string;
  stateDir: string;
  logger: Logger;
  instance: InstanceIdentity;
  syncIntervalMs: number;
  /** When a compaction point stores the whole database rather than the changed pages (WalShipperOptions). */
  compaction?: { fullSnapshotIntervalMs: number; fullSnapshotShare: number };
  retention: { retentionMs: number; minKeep: number };
  /** What the restore before this run installed, recorded in the lineage pointer. */
  restoredFrom?: RestoredFrom;
  /** The restore before this run, for the first generation to continue from instead of a full snapshot (format 2). */
  continueFrom?: ContinueFrom;
  /** Shipping counts as stalled (unhealthy) when committed transactions wait longer than this. */
  stallAfterMs: number;
}

/** How a database is being replicated: WAL frames every sync interval, or scheduled snapshots only (not in WAL mode). */
export type ReplicationMode = 'wal' | 'snapshots' | 'waiting';

/** A DatabaseSync's state, for `status`, metrics and health checks. */
export interface DatabaseSyncStatus extends ReplicatorStatus {
  mode: ReplicationMode;
  /** The generation this instance writes. */
  generation: string | undefined;
  /** Seconds the oldest committed transaction not yet stored has waited (WAL mode; 0 when caught up). */
  lagSeconds: number;
  /** WAL bytes committed or written and not yet stored. */
  lagBytes: number;
  /** Whether shipping has been stalled for longer than the limit. */
  stalled: boolean;
  transactionsShipped: number;
  segmentsShipped: number;
  /** The last `--verify-interval` check of the replica, when one ran. */
  lastVerify: { at: Date; ok: boolean; message: string } | undefined;
  /** Another instance took the lineage pointer: what it is. */
  fencedBy: { instance: string; host: string; generation: string; takenAt: string } | undefined;
}

const WAL_RECHECK_TICKS = 30;

/**
 * Replicates one database for `run`. In WAL mode a WalShipper stores the committed frames every sync
 * interval (nothing when nothing was committed) and scheduled snapshots become compaction points of
 * its generation; any other journal mode gets scheduled snapshots only. Each new generation takes the
 * lineage pointer; after every sync that stored something the pointer is checked, and an instance
 * that lost it is fenced: it keeps writing only its own generation and never takes the pointer again.
 */
export class DatabaseSync {
  private readonly logger: Logger;
  private readonly shipper: WalShipper;
  private readonly replicator: DatabaseReplicator;
  private readonly lineage: LineageGuard;
  private mode: ReplicationMode = 'waiting';
  private ticksSinceWalCheck = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private generation: string | undefined;
  private segmentsAtLastSnapshot = 0;
  private lastSyncOkAt: Date | undefined;
  private lastError: { message: string; at: Date } | undefined;
  private failures = 0;
  private snapshotsStored = 0;
  private lastSnapshotAt: Date | undefined;
  private lastSnapshotId: string | undefined;
  private stallLogged = false;
  private lastVerify: DatabaseSyncStatus['lastVerify'];

  constructor(private readonly options: DatabaseSyncOptions) {
    this.logger = options.logger.child({ db: options.name });
    const { store, name, path, stateDir } = options;
    this.shipper = new WalShipper({
      store,
      name,
      path,
      stateDir,
      logger: options.logger,
      syncIntervalMs: options.syncIntervalMs,
      ...options.compaction,
      ...(options.continueFrom ? { continueFrom: options.continueFrom } : {}),
    });
    this.replicator = new DatabaseReplicator({ store, name, path, stateDir, logger: options.logger, retention: options.retention });
    this.lineage = new LineageGuard({
      store,
      name,
      instance: options.instance,
      logger: this.logger,
      onFenced: (holder) => this.onFenced(holder),
    });
  }

  /** Starts syncing every sync interval (the first sync runs at once: it starts the generation); resolves when that first sync is done. */
  start(): Promise<void> {
    let first: Promise<void> | undefined;
    const loop = (): void => {
      const started = Date.now();
      this.running = this.tick();
      first ??= this.running;
      this.running = this.running.finally(() => {
        this.running = undefined;
        if (!this.stopped) this.timer = setTimeout(loop, Math.max(0, this.options.syncIntervalMs - (Date.now() - started)));
      });
    };
    loop();
    return first!;
  }

  /** The scheduled snapshot: a compaction point in WAL mode (only when frames were shipped since the last one), a snapshot otherwise. */
  async snapshot(options: { signal?: AbortSignal } = {}): Promise<void> {
    // Until the first sync found out the journal mode, the generation is the first sync's to start.
    if (this.stopped || this.mode === 'waiting') return;
    if (this.mode === 'wal') {
      if (this.shipper.status().segmentsStored === this.segmentsAtLastSnapshot) return;
      const result = await this.shipper.snapshotOnce(options);
      await this.afterSync(result, options.signal);
      // Counted only when the compaction point asked for was stored: a sync that started a new generation
      // instead (counted by afterSync), or found no database, stored no compaction point.
      if (result.outcome === 'synced' && result.newGeneration?.reason === 'requested') {
        this.segmentsAtLastSnapshot = this.shipper.status().segmentsStored;
        this.snapshotsStored++;
        this.lastSnapshotAt = new Date();
        this.lastSnapshotId = result.newGeneration.snapshotId;
      }
    } else {
      const result = await this.replicator.snapshotOnce(options);
      await this.afterSnapshot(result, options.signal);
    }
    await this.retain(options.signal);
  }

  /** `--verify-interval`: rebuilds the latest replicated state into a temp file and checks it; a failure is logged and makes the run unhealthy. */
  async verify(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.stopped || this.mode === 'waiting') return;
    const { store, name, stateDir } = this.options;
    try {
      const live = this.lineage.fenced ? undefined : this.generation;
      const result = await verifySnapshot({
        store,
        name,
        stateDir,
        logger: this.logger,
        signal: options.signal,
        ...(live ? { preferredGeneration: live } : {}),
      });
      this.lastVerify = { at: new Date(), ok: true, message: `${result.snapshotId} verified` };
    } catch (err) {
      this.lastVerify = { at: new Date(), ok: false, message: messageOf(err) };
      this.logger.error(
        { err: messageOf(err) },
        'replica verification FAILED: the latest replicated state of this database does not restore cleanly',
      );
    }
  }

  /** The final backup: what was committed since the last sync (WAL), or a last snapshot when something changed. Stops syncing. */
  async finalBackup(deadline: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
    await waitOrAbort(this.running, signal);
    signal.throwIfAborted();
    if (this.mode !== 'snapshots') {
      // One more sync of everything committed (however far behind shipping was), then the connection closes.
      const result = await this.shipper.syncOnce({ signal, drain: true });
      await this.afterSync(result, signal);
      if (result.outcome === 'synced') {
        // Closes the connections and records what the file now is, for a restart that keeps the disk.
        await this.shipper.stop({ signal });
        return;
      }
      // No database (nothing to back up), or not in WAL mode: a last snapshot when something changed.
      if (result.outcome === 'missing') return;
    }
    const result = await this.replicator.finalSnapshot({ deadline });
    await this.afterSnapshot(result, signal);
  }

  /** Stops syncing and closes the database connections (no final backup). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    await Promise.allSettled([this.shipper.stop({ final: false }), this.replicator.close()]);
  }

  /** A copy of the current status. */
  status(): DatabaseSyncStatus {
    const base = this.replicator.status();
    const wal = this.shipper.status();
    const fenced = this.lineage.fenced;
    const lagSeconds = this.mode === 'wal' ? wal.lagSeconds : 0;
    if (this.mode !== 'wal') {
      // Until the first sync succeeds (mode 'waiting'), its failures are the database's errors: nothing is protected yet.
      const waitingError = this.mode === 'waiting' ? this.lastError : undefined;
      return {
        ...base,
        mode: this.mode,
        generation: this.generation,
        lagSeconds,
        lagBytes: 0,
        stalled: false,
        transactionsShipped: 0,
        segmentsShipped: 0,
        lastVerify: this.lastVerify,
        fencedBy: fenced && describeHolder(fenced),
        ...(waitingError ? { lastError: waitingError, consecutiveFailures: this.failures } : {}),
      };
    }
    return {
      ...base,
      exists: true,
      running: false,
      lastSnapshotId: this.lastSnapshotId ?? base.lastSnapshotId,
      lastSuccessAt: this.lastSyncOkAt,
      lastSnapshotAt: this.lastSnapshotAt,
      lastError: this.lastError,
      consecutiveFailures: this.failures,
      snapshotsStored: this.snapshotsStored,
      bytesUploaded: wal.bytesStored + base.bytesUploaded,
      mode: 'wal',
      generation: this.generation,
      lagSeconds,
      lagBytes: wal.lagBytes,
      stalled: lagSeconds * 1000 > this.options.stallAfterMs,
      transactionsShipped: wal.transactionsStored,
      segmentsShipped: wal.segmentsStored,
      lastVerify: this.lastVerify,
      fencedBy: fenced && describeHolder(fenced),
    };
  }

  private async tick(): Promise<void> {
    try {
      if (this.mode === 'snapshots' && ++this.ticksSinceWalCheck < WAL_RECHECK_TICKS) return;
      this.ticksSinceWalCheck = 0;
      const result = await this.shipper.syncOnce();
      await this.afterSync(result, undefined);
      this.lastSyncOkAt = new Date();
      if (this.failures > 0) this.logger.info({ failures: this.failures }, 'WAL shipping recovered');
      this.failures = 0;
      this.lastError = undefined;
    } catch (err) {
      const message = messageOf(err);
      if (this.failures === 0 || message !== this.lastError?.message)
        this.logger.error({ err: message }, 'WAL shipping failed; retrying every sync interval');
      this.failures++;
      this.lastError = { message, at: new Date() };
    }
    this.reportStall();
  }

  private async afterSync(result: SyncResult, signal: AbortSignal | undefined): Promise<void> {
    if (result.outcome === 'missing') return;
    if (result.outcome === 'not-wal') {
      if (this.mode !== 'snapshots') {
        this.logger.info(
          { journalMode: result.journalMode },
          'database is not in WAL mode: scheduled snapshots only (set PRAGMA journal_mode=WAL in the app for continuous replication)',
        );
      }
      this.mode = 'snapshots';
      return;
    }
    if (this.mode !== 'wal') this.logger.info({ interval: this.options.syncIntervalMs }, 'continuous WAL replication started');
    this.mode = 'wal';
    if (result.newGeneration) {
      if (result.newGeneration.reason !== 'requested') {
        this.lastSnapshotId = result.newGeneration.snapshotId;
        this.generation = result.newGeneration.generation;
        this.segmentsAtLastSnapshot = this.shipper.status().segmentsStored;
        this.snapshotsStored++;
        this.lastSnapshotAt = new Date();
        await this.lineage.claim(
          this.generation,
          this.generation === this.firstGeneration() ? this.options.restoredFrom : undefined,
          signal,
        );
        return;
      }
    }
    if (result.segments > 0) await this.lineage.check(signal);
  }

  private async afterSnapshot(result: SnapshotResult, signal: AbortSignal | undefined): Promise<void> {
    if (result.outcome !== 'created') return;
    const generation = result.manifest.generation;
    if (generation !== this.generation) {
      this.generation = generation;
      await this.lineage.claim(generation, this.firstGeneration() === generation ? this.options.restoredFrom : undefined, signal);
    } else {
      await this.lineage.check(signal);
    }
  }

  private first: string | undefined;

  /** The first generation this instance wrote: the one the restore provenance belongs to. */
  private firstGeneration(): string | undefined {
    this.first ??= this.generation;
    return this.first;
  }

  private async retain(signal: AbortSignal | undefined): Promise<void> {
    // A fenced instance leaves the replica to the instance that took over.
    if (this.lineage.fenced || this.mode !== 'wal') return;
    try {
      await applyRetention({
        store: this.options.store,
        name: this.options.name,
        ...this.options.retention,
        logger: this.logger,
        signal,
        ...(this.generation ? { preferredGeneration: this.generation } : {}),
      });
    } catch (err) {
      this.logger.warn({ err: messageOf(err) }, 'retention failed; retried after the next snapshot');
    }
  }

  private onFenced(holder: LineagePointer): void {
    const from = holder.restoredFrom;
    const mine = this.generation;
    let lacking: string;
    if (mine !== undefined && from?.generation === mine) {
      const { count, atLeast } = this.shipper.transactionsAfter(mine, from.wal);
      lacking = `${atLeast ? 'at least ' : ''}${count} transaction(s) this instance stored after the point the other restored from are NOT in the live lineage`;
    } else {
      lacking = `the other instance did not restore from this instance's generation; everything this instance stored since ${holder.takenAt} is NOT in the live lineage`;
    }
    this.logger.error(
      { holder: describeHolder(holder), ownGeneration: mine },
      `fenced: another persistd instance (${holder.host}, pid ${holder.pid}) took over this database's lineage; ${lacking}. ` +
        `This instance keeps writing only its own generation ${mine ?? '(none)'}, restorable with \`persistd restore --generation ${mine ?? '<id>'}\``,
    );
  }

  private reportStall(): void {
    const status = this.status();
    if (status.stalled && !this.stallLogged) {
      this.stallLogged = true;
      this.logger.error(
        { lagSeconds: Math.round(status.lagSeconds), lagBytes: status.lagBytes, lastError: this.lastError?.message },
        'WAL shipping is stalled: committed transactions are not reaching the replica',
      );
    } else if (!status.stalled && this.stallLogged) {
      this.stallLogged = false;
      this.logger.info('WAL shipping caught up');
    }
  }
}

function describeHolder(holder: LineagePointer): { instance: string; host: string; generation: string; takenAt: string } {
  return { instance: holder.instance, host: holder.host, generation: holder.generation, takenAt: holder.takenAt };
}

async function waitOrAbort(work: Promise<unknown> | undefined, signal: AbortSignal): Promise<void> {
  if (!work) return;
  const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await Promise.race([work.catch(() => undefined), aborted]);
}
