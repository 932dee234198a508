import type { Config } from '../config/config.js';
import { messageOf } from '../errors.js';
import { FilesFence } from '../files/files-fence.js';
import { createLooseFileSync } from '../files/loose-file.js';
import { TreeSync, type TreeSyncStatus } from '../files/tree-sync.js';
import type { RestoredFrom } from '../format/db-lineage.js';
import type { Logger } from '../log/logger.js';
import type { InstanceIdentity } from '../sqlite/lineage-guard.js';
import { parseSchedule } from '../config/schedule.js';
import { startSchedule, type ScheduledJob } from './start-schedule.js';
import type { ContinueFrom } from '../sqlite/wal/wal-shipper.js';
import type { ObjectStore } from '../store/object-store.js';
import { DatabaseSync, type DatabaseSyncStatus } from './database-sync.js';
import { stallLimitMs } from './run-status.js';

/** What the daemon replicates and how each target is doing, for status, metrics and health. */
export interface DaemonStatus {
  databases: DatabaseSyncStatus[];
  trees: TreeSyncStatus[];
}

/** How the final backup at shutdown went. */
export interface FinalBackupReport {
  durationMs: number;
  deadlineMs: number;
  complete: boolean;
  failures: string[];
  /** Set when another instance took over the files: what this one kept aside instead of writing the live namespace. */
  keptAside?: { instance: string; files: number; bytes: number; deletesHeld: number };
}

/** What `run` knows when replication starts. */
export interface DaemonStart {
  instance: InstanceIdentity;
  /** Per database name: what the restore installed (recorded in the lineage pointer). */
  restoredFrom: ReadonlyMap<string, RestoredFrom>;
  /** Per database name: the restored state its first generation continues from (format 2), when the restore allows it. */
  continueFrom?: ReadonlyMap<string, ContinueFrom>;
}

/** How long `startDatabases` waits for continuations to be stored before it lets the app start anyway. */
const CONTINUATION_WAIT_MS = 30_000;

/** Runs every replicator of `run`: continuous WAL shipping or scheduled snapshots per database, watched directory and file syncs; one final backup at shutdown. */
export class ReplicationDaemon {
  private readonly databases: DatabaseSync[];
  private readonly trees: TreeSync[];
  /** The files owner pointer, when there are directories or loose files. */
  private readonly fence: FilesFence | undefined;
  private readonly jobs: ScheduledJob[] = [];
  private readonly continuing: ReadonlySet<string>;

  constructor(
    private readonly config: Config,
    store: ObjectStore,
    private readonly logger: Logger,
    start: DaemonStart,
  ) {
    this.databases = config.databases.map(
      (db) =>
        new DatabaseSync({
          store,
          name: db.name,
          path: db.path,
          stateDir: config.stateDir,
          logger,
          instance: start.instance,
          syncIntervalMs: config.syncIntervalMs,
          compaction: { fullSnapshotIntervalMs: config.fullSnapshotIntervalMs, fullSnapshotShare: config.fullSnapshotShare },
          retention: { retentionMs: config.retentionMs, minKeep: config.retentionMin },
          stallAfterMs: stallLimitMs(config),
          ...(start.restoredFrom.has(db.name) ? { restoredFrom: start.restoredFrom.get(db.name)! } : {}),
          ...(start.continueFrom?.has(db.name) ? { continueFrom: start.continueFrom.get(db.name)! } : {}),
        }),
    );
    this.continuing = new Set(start.continueFrom?.keys() ?? []);
    // run restores every tree before the app starts: files gone before the first scan were deleted by the app.
    this.fence =
      config.directories.length + config.files.length > 0 ? new FilesFence({ store, instance: start.instance, logger }) : undefined;
    const common = {
      fence: this.fence,
      store,
      stateDir: config.stateDir,
      keepDeletedMs: config.keepDeletedMs,
      maxDeleteFraction: config.maxDelete,
      concurrency: config.concurrency,
      reconcileIntervalMs: config.reconcileIntervalMs,
      logger,
      restoredBeforeStart: true,
    };
    this.trees = [
      ...config.directories.map(
        (dir) => new TreeSync({ ...common, name: dir.name, root: dir.path, include: [...config.include], exclude: [...config.exclude] }),
      ),
      ...config.files.map((file) => createLooseFileSync({ ...common, name: file.name, path: file.path })),
    ];
  }

  /** Starts shipping, the snapshot schedule and watching. The first sync of each database starts its generation at once. */
  async start(): Promise<void> {
    await this.startDatabases();
    await this.claimFiles();
    await this.startWatching();
  }

  /**
   * Starts shipping and the snapshot schedules. Resolves once every database that continues a restored
   * state has stored its continuation and taken the lineage pointer (bounded; `run` starts the app
   * after it, so the app's first commit is already in a generation that restores); databases that need
   * a full snapshot take it in the background.
   */
  async startDatabases(): Promise<void> {
    const schedule = parseSchedule(this.config.snapshotSchedule);
    const verify = this.config.verifySchedule === undefined ? undefined : parseSchedule(this.config.verifySchedule);
    const continuations: Promise<void>[] = [];
    for (const db of this.databases) {
      const first = db.start();
      const name = db.status().name;
      if (this.continuing.has(name)) continuations.push(first);
      this.jobs.push(startSchedule(schedule, () => this.snapshot(db), { logger: this.logger, name: `snapshot ${name}` }));
      if (verify) this.jobs.push(startSchedule(verify, () => db.verify(), { logger: this.logger, name: `verify ${name}` }));
    }
    if (continuations.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CONTINUATION_WAIT_MS)));
    const done = await Promise.race([Promise.all(continuations), late]);
    clearTimeout(timer);
    if (done === 'late')
      this.logger.warn({ waitedMs: CONTINUATION_WAIT_MS }, 'the first sync after the restore is taking long; starting the app anyway');
  }

  /**
   * Takes the files owner pointer (before the app starts): an older instance still running during a
   * deploy then keeps its later file changes aside instead of overwriting this one's.
   */
  async claimFiles(): Promise<void> {
    await this.fence?.claim();
  }

  /** Starts watching the directories and files. */
  async startWatching(): Promise<void> {
    const started = await Promise.allSettled(this.trees.map((tree) => tree.start()));
    started.forEach((result, i) => {
      if (result.status === 'rejected')
        this.logger.error(
          { err: result.reason, tree: this.trees[i]?.status().label },
          'could not start watching; changes are picked up by the next sync',
        );
    });
  }

  /** Current status of every target. */
  status(): DaemonStatus {
    return { databases: this.databases.map((d) => d.status()), trees: this.trees.map((t) => t.status()) };
  }

  /** Stops the schedules and takes the final, incremental backup of everything under one deadline. */
  async finalBackup(deadlineMs: number): Promise<FinalBackupReport> {
    const started = Date.now();
    for (const job of this.jobs) job.stop();
    const failures: string[] = [];
    const work = [
      ...this.databases.map(async (db) => {
        try {
          await db.finalBackup(started + deadlineMs);
        } catch (err) {
          failures.push(`database ${db.status().name}: ${messageOf(err)}`);
        }
      }),
      ...this.trees.map(async (tree) => {
        const { done, status } = await tree.flush({ deadline: started + deadlineMs });
        if (!done) failures.push(`${status.label}: ${status.queued + status.inFlight} file(s) not uploaded before the deadline`);
      }),
    ];
    await Promise.all(work);
    const report: FinalBackupReport = { durationMs: Date.now() - started, deadlineMs, complete: failures.length === 0, failures };
    if (this.fence?.fenced) {
      const trees = this.trees.map((tree) => tree.status());
      report.keptAside = {
        instance: this.fence.instance,
        files: trees.reduce((n, t) => n + t.keptAside, 0),
        bytes: trees.reduce((n, t) => n + t.keptAsideBytes, 0),
        deletesHeld: trees.reduce((n, t) => n + t.pendingDeletes, 0),
      };
    }
    return report;
  }

  /** Stops everything (watchers, timers, database connections). */
  async stop(): Promise<void> {
    for (const job of this.jobs) job.stop();
    await Promise.allSettled([...this.trees.map((tree) => tree.stop()), ...this.databases.map((db) => db.stop())]);
  }

  private async snapshot(db: DatabaseSync): Promise<void> {
    try {
      await db.snapshot();
    } catch (err) {
      this.logger.error({ err: messageOf(err), db: db.status().name }, 'snapshot failed; retrying at the next scheduled time');
    }
  }
}
