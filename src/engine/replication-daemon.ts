import type { Config } from '../config/config.js';
import { messageOf } from '../errors.js';
import { createLooseFileSync } from '../files/loose-file.js';
import { TreeSync, type TreeSyncStatus } from '../files/tree-sync.js';
import type { Logger } from '../log/logger.js';
import { DatabaseReplicator, type ReplicatorStatus } from '../sqlite/database-replicator.js';
import { parseSchedule, startSchedule, type ScheduledJob } from '../sqlite/schedule.js';
import type { ObjectStore } from '../store/object-store.js';

/** What the daemon replicates and how each target is doing, for status, metrics and health. */
export interface DaemonStatus {
  databases: ReplicatorStatus[];
  trees: TreeSyncStatus[];
}

/** How the final backup at shutdown went. */
export interface FinalBackupReport {
  durationMs: number;
  deadlineMs: number;
  complete: boolean;
  failures: string[];
}

/** Runs every replicator of `run`: scheduled database snapshots and watched directory and file syncs; one final backup at shutdown. */
export class ReplicationDaemon {
  private readonly replicators: DatabaseReplicator[];
  private readonly trees: TreeSync[];
  private readonly jobs: ScheduledJob[] = [];

  constructor(private readonly config: Config, private readonly store: ObjectStore, private readonly logger: Logger) {
    this.replicators = config.databases.map((db) => new DatabaseReplicator({
      store, name: db.name, path: db.path, stateDir: config.stateDir, logger,
      retention: { retentionMs: config.retentionMs, minKeep: config.retentionMin },
    }));
    const common = { store, stateDir: config.stateDir, keepDeletedMs: config.keepDeletedMs, maxDeleteFraction: config.maxDelete, concurrency: config.concurrency, logger };
    this.trees = [
      ...config.directories.map((dir) => new TreeSync({ ...common, name: dir.name, root: dir.path, include: [...config.include], exclude: [...config.exclude] })),
      ...config.files.map((file) => createLooseFileSync({ ...common, name: file.name, path: file.path })),
    ];
  }

  /** Starts watching and the snapshot schedule; `snapshotNow` names databases to snapshot right away (no backup existed). */
  async start(snapshotNow: ReadonlySet<string>): Promise<void> {
    const schedule = parseSchedule(this.config.snapshotSchedule);
    for (const replicator of this.replicators) {
      const name = replicator.status().name;
      this.jobs.push(startSchedule(schedule, () => this.snapshot(replicator), { logger: this.logger, name: `snapshot ${name}` }));
      if (snapshotNow.has(name)) void this.snapshot(replicator);
    }
    const started = await Promise.allSettled(this.trees.map((tree) => tree.start()));
    started.forEach((result, i) => {
      if (result.status === 'rejected') this.logger.error({ err: result.reason, tree: this.trees[i]?.status().label }, 'could not start watching; changes are picked up by the next sync');
    });
  }

  /** Current status of every target. */
  status(): DaemonStatus {
    return { databases: this.replicators.map((r) => r.status()), trees: this.trees.map((t) => t.status()) };
  }

  /** Stops the schedules and takes the final, incremental backup of everything under one deadline. */
  async finalBackup(deadlineMs: number): Promise<FinalBackupReport> {
    const started = Date.now();
    for (const job of this.jobs) job.stop();
    const failures: string[] = [];
    const work = [
      ...this.replicators.map(async (replicator) => {
        try {
          await replicator.finalSnapshot({ deadline: started + deadlineMs });
        } catch (err) {
          failures.push(`database ${replicator.status().name}: ${messageOf(err)}`);
        }
      }),
      ...this.trees.map(async (tree) => {
        const { done, status } = await tree.flush({ deadline: started + deadlineMs });
        if (!done) failures.push(`${status.label}: ${status.queued + status.inFlight} file(s) not uploaded before the deadline`);
      }),
    ];
    await Promise.all(work);
    return { durationMs: Date.now() - started, deadlineMs, complete: failures.length === 0, failures };
  }

  /** Stops everything (watchers, timers, database connections). */
  async stop(): Promise<void> {
    for (const job of this.jobs) job.stop();
    await Promise.allSettled([...this.trees.map((tree) => tree.stop()), ...this.replicators.map((replicator) => replicator.close())]);
  }

  private async snapshot(replicator: DatabaseReplicator): Promise<void> {
    try {
      await replicator.snapshotOnce();
    } catch (err) {
      this.logger.error({ err, db: replicator.status().name }, 'snapshot failed; retrying at the next scheduled time');
    }
  }
}
