import cron from 'node-cron';
import type { Config } from '../config/config.js';
import type { TreeSyncStatus } from '../files/tree-sync.js';
import { LOOSE_TREE } from '../format/files-keys.js';
import { redact } from '../log/redact.js';
import { parseSchedule } from '../config/schedule.js';
import type { DatabaseSyncStatus } from './database-sync.js';
import type { RequestCounts } from '../store/counting-store.js';

/** Where a `persistd run` is in its life. */
export type RunPhase = 'restoring' | 'running' | 'stopping' | 'stopped';

/** What a target is: a SQLite database, a directory, or a loose file. */
export type TargetKind = 'db' | 'dir' | 'file';

/** An error as status shows it: message already redacted, time as ISO text. */
export interface StatusError {
  message: string;
  at: string;
}

/** One protected target in a RunStatus. */
export interface TargetStatus {
  kind: TargetKind;
  name: string;
  path: string;
  /** Last time the target was known to be backed up (DB: last snapshot attempt that succeeded; tree: last seen with nothing waiting). */
  lastSuccessAt: string | null;
  /** Seconds since then (measured from the end of restore while there is no success yet); null before restore completed. */
  lagSeconds: number | null;
  /** The health rule's limit for this target (see `healthRule`). */
  unhealthyAfterSeconds: number;
  healthy: boolean;
  /** Whether the last attempt failed (DB) or uploads have been failing (tree) with work waiting. */
  failing: boolean;
  /** Changes waiting to be uploaded: paths queued, uploading or settling (always 0 for a database). */
  queued: number;
  bytesUploaded: number;
  /** Snapshots stored (DB) or files uploaded (tree) by this run. */
  itemsUploaded: number;
  lastError: StatusError | null;
  /** Database only: `wal` (continuous), `snapshots` (not in WAL mode), `waiting` (no database yet); null for trees. */
  mode: 'wal' | 'snapshots' | 'waiting' | null;
  /** Database in WAL mode: WAL bytes not yet stored. */
  lagBytes: number;
  /** Database in WAL mode: transactions stored in WAL segments by this run. */
  transactionsShipped: number;
  /** The generation this run writes (databases). */
  generation: string | null;
  /** Another instance took this database's lineage (its files, for a tree); this one only writes its own generation (keeps file changes aside). */
  fenced: boolean;
  /** A database that exists while no generation of it could be stored yet (every attempt failed). */
  unprotected?: boolean;
  /** The last `--verify-interval` check of a database's replica (null when none ran, and for trees). */
  lastVerify: { at: string; ok: boolean; message: string } | null;
}

/** A point-in-time picture of one `persistd run`: written to the status file, served as /metrics and /healthz. Never holds secrets. */
export interface RunStatus {
  format: 1;
  /** The persistd process. */
  pid: number;
  phase: RunPhase;
  startedAt: string;
  updatedAt: string;
  restoredAt: string | null;
  appPid: number | null;
  /** Where the replica is, as the store describes itself (no credentials). */
  replica: string | null;
  healthy: boolean;
  /** Why the run is unhealthy; empty when healthy. */
  problems: string[];
  /** The newest error of the run or of any target. */
  lastError: StatusError | null;
  /** Changes waiting to be uploaded, over every target. */
  queueLength: number;
  /** Requests, errors and bytes by store operation since replication started (every retry attempt counts). */
  requests: RequestCounts | null;
  targets: TargetStatus[];
}

/** The part of ReplicationDaemon that status reads. */
export interface StatusSource {
  status(): { databases: DatabaseSyncStatus[]; trees: TreeSyncStatus[] };
}

/** A tree whose uploads keep failing for this long makes the run unhealthy. */
export const TREE_FAILING_LIMIT_MS = 60_000;
/** WAL shipping counts as stalled after this long, or ten sync intervals when that is longer. */
export const WAL_STALL_FLOOR_MS = 30_000;

/** How long committed transactions of a WAL database may wait unstored before the run is unhealthy. */
export function stallLimitMs(config: Pick<Config, 'syncIntervalMs'>): number {
  return Math.max(WAL_STALL_FLOOR_MS, 10 * config.syncIntervalMs);
}

/** Least staleness limit of a database, whatever its snapshot schedule. */
export const DATABASE_STALE_FLOOR_MS = 60_000;

/**
 * Collects the facts of one `persistd run` (phase, restore time, app pid, errors) and the live sources
 * (daemon, request counts), and builds RunStatus snapshots from them. It remembers, per tree, when it
 * was last seen in sync and since when its uploads fail, which the daemon's counters alone cannot tell.
 */
export class RunStatusTracker {
  private phase: RunPhase = 'restoring';
  private readonly startedAt: number;
  private restoredAt: number | undefined;
  private appPid: number | undefined;
  private replica: string | undefined;
  private error: StatusError | undefined;
  private stateDirProblem: string | undefined;
  private daemon: StatusSource | undefined;
  private counting: { snapshot(): RequestCounts } | undefined;
  private readonly trees = new Map<string, { cleanAt?: number; failingSince?: number }>();
  private readonly listeners: Array<() => void> = [];
  private readonly dbLimitMs: number;
  private readonly walLimitMs: number;

  constructor(
    private readonly config: Config,
    private readonly pid = process.pid,
    now = Date.now(),
  ) {
    this.startedAt = now;
    this.dbLimitMs = Math.max(DATABASE_STALE_FLOOR_MS, 2 * schedulePeriodMs(config.snapshotSchedule));
    this.walLimitMs = stallLimitMs(config);
  }

  /** Calls `listener` after every phase change (the status file is rewritten then). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Moves to `phase`; notifies listeners when it changed. */
  setPhase(phase: RunPhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    for (const listener of this.listeners) listener();
  }

  /** Records that restore completed (or verifiably found nothing to restore). */
  markRestored(at = Date.now()): void {
    this.restoredAt = at;
  }

  /** Records the app's pid once it runs. */
  setAppPid(pid: number | undefined): void {
    this.appPid = pid;
  }

  /** Records that the state directory cannot be written (undefined: it can again); the run is unhealthy meanwhile. */
  setStateDirProblem(message: string | undefined): void {
    this.stateDirProblem = message === undefined ? undefined : redact(message);
  }

  /** Records a run-level error (restore failed, final backup incomplete); the message is redacted. */
  setError(message: string, at = Date.now()): void {
    this.error = { message: redact(message), at: new Date(at).toISOString() };
  }

  /** Connects the live sources: the replica's printable description, its request counts, and the daemon. */
  attach(sources: { replica?: string; counting?: { snapshot(): RequestCounts }; daemon?: StatusSource }): void {
    this.replica = sources.replica ?? this.replica;
    this.counting = sources.counting ?? this.counting;
    this.daemon = sources.daemon ?? this.daemon;
  }

  /** The current RunStatus; also updates the per-tree memory, so call it regularly (the status file does, every few seconds). */
  snapshot(now = Date.now()): RunStatus {
    const daemon = this.daemon?.status();
    const base = this.restoredAt ?? undefined;
    const targets: TargetStatus[] = this.config.databases.map((db) => {
      const status = daemon?.databases.find((d) => d.name === db.name);
      return this.databaseTarget(db.name, db.path, status, base, now);
    });
    const trees = new Map((daemon?.trees ?? []).map((tree) => [tree.label, tree]));
    for (const dir of this.config.directories) targets.push(this.treeTarget('dir', dir.name, dir.path, trees.get(dir.name), base, now));
    for (const file of this.config.files)
      targets.push(this.treeTarget('file', file.name, file.path, trees.get(`${LOOSE_TREE}/${file.name}`), base, now));

    const problems: string[] = [];
    if (this.phase === 'restoring') problems.push('restore has not completed');
    if (this.phase === 'stopping' || this.phase === 'stopped') problems.push(`persistd is ${this.phase}`);
    if (this.stateDirProblem !== undefined) problems.push(this.stateDirProblem);
    for (const t of targets) {
      if (t.healthy) continue;
      if (t.kind !== 'db' && t.fenced)
        problems.push(`${t.kind} ${t.name}: fenced, another instance took over the files; this one keeps its changes aside`);
      else if (t.kind !== 'db') problems.push(`${t.kind} ${t.name}: uploads failing for more than ${t.unhealthyAfterSeconds}s`);
      else if (t.fenced) problems.push(`db ${t.name}: fenced, another instance took over its lineage`);
      else if (t.lastVerify?.ok === false) problems.push(`db ${t.name}: replica verification failed: ${t.lastVerify.message}`);
      else if (t.unprotected)
        problems.push(
          `db ${t.name}: NOT PROTECTED, no generation stored after ${Math.round(t.lagSeconds ?? 0)}s (limit ${t.unhealthyAfterSeconds}s): ${t.lastError?.message ?? 'every attempt fails'}`,
        );
      else if (t.mode === 'wal')
        problems.push(
          `db ${t.name}: WAL shipping stalled, transactions waiting ${Math.round(t.lagSeconds ?? 0)}s (limit ${t.unhealthyAfterSeconds}s)`,
        );
      else problems.push(`db ${t.name}: no successful snapshot for ${Math.round(t.lagSeconds ?? 0)}s (limit ${t.unhealthyAfterSeconds}s)`);
    }
    const errors = [this.error, ...targets.map((t) => t.lastError)].filter((e): e is StatusError => e !== undefined && e !== null);
    return {
      format: 1,
      pid: this.pid,
      phase: this.phase,
      startedAt: iso(this.startedAt),
      updatedAt: iso(now),
      restoredAt: this.restoredAt === undefined ? null : iso(this.restoredAt),
      appPid: this.appPid ?? null,
      replica: this.replica ?? null,
      healthy: problems.length === 0,
      problems,
      lastError: errors.sort((a, b) => b.at.localeCompare(a.at))[0] ?? null,
      queueLength: targets.reduce((sum, t) => sum + t.queued, 0),
      requests: this.counting?.snapshot() ?? null,
      targets,
    };
  }

  private databaseTarget(
    name: string,
    path: string,
    status: DatabaseSyncStatus | undefined,
    base: number | undefined,
    now: number,
  ): TargetStatus {
    const success = status?.lastSuccessAt?.getTime();
    const wal = status?.mode === 'wal';
    const since = success ?? base;
    // WAL mode: how long the oldest committed transaction not yet stored has waited; otherwise: since the last snapshot attempt that worked.
    const lagSeconds = wal ? status.lagSeconds : since === undefined ? null : Math.max(0, now - since) / 1000;
    const limit = (wal ? this.walLimitMs : this.dbLimitMs) / 1000;
    const fenced = status?.fencedBy !== undefined;
    const verifyFailed = status?.lastVerify?.ok === false;
    // The database exists (a sync reached it and failed) but no generation was ever stored: nothing is
    // protected. Unhealthy once that lasts longer than the WAL lag limit, whatever the snapshot schedule.
    const unprotected =
      status !== undefined && status.generation === undefined && status.mode === 'waiting' && status.lastError !== undefined;
    const unprotectedFor = unprotected ? Math.max(0, now - (base ?? this.startedAt)) / 1000 : 0;
    return {
      kind: 'db',
      name,
      path,
      lastSuccessAt: success === undefined ? null : iso(success),
      lagSeconds: unprotected ? unprotectedFor : lagSeconds,
      unhealthyAfterSeconds: unprotected ? this.walLimitMs / 1000 : limit,
      healthy:
        !fenced && !verifyFailed && (unprotected ? unprotectedFor <= this.walLimitMs / 1000 : lagSeconds === null || lagSeconds <= limit),
      unprotected,
      failing: (status?.consecutiveFailures ?? 0) > 0,
      queued: 0,
      bytesUploaded: status?.bytesUploaded ?? 0,
      itemsUploaded: status?.snapshotsStored ?? 0,
      lastError: status?.lastError ? { message: redact(status.lastError.message), at: status.lastError.at.toISOString() } : null,
      mode: status?.mode ?? 'waiting',
      lagBytes: status?.lagBytes ?? 0,
      transactionsShipped: status?.transactionsShipped ?? 0,
      generation: status?.generation ?? null,
      fenced,
      lastVerify: status?.lastVerify
        ? { at: status.lastVerify.at.toISOString(), ok: status.lastVerify.ok, message: redact(status.lastVerify.message) }
        : null,
    };
  }

  private treeTarget(
    kind: TargetKind,
    name: string,
    path: string,
    status: TreeSyncStatus | undefined,
    base: number | undefined,
    now: number,
  ): TargetStatus {
    const memory = this.trees.get(`${kind}:${name}`) ?? {};
    this.trees.set(`${kind}:${name}`, memory);
    const waiting = status ? status.queued + status.inFlight + status.settling : 0;
    const uploaded = status?.lastSuccessAt?.getTime();
    const errorAt = status?.lastError?.at.getTime();
    // Failing: work is waiting and nothing was uploaded since the last error.
    const failing = status !== undefined && waiting > 0 && errorAt !== undefined && errorAt >= (uploaded ?? 0);
    memory.failingSince = failing ? (memory.failingSince ?? errorAt) : undefined;
    if (status !== undefined && base !== undefined && waiting === 0 && !failing) memory.cleanAt = now;
    const success = Math.max(memory.cleanAt ?? 0, uploaded ?? 0) || undefined;
    const since = success ?? base;
    return {
      kind,
      name,
      path,
      lastSuccessAt: success === undefined ? null : iso(success),
      lagSeconds: since === undefined ? null : waiting === 0 && !failing ? 0 : Math.max(0, now - since) / 1000,
      unhealthyAfterSeconds: TREE_FAILING_LIMIT_MS / 1000,
      healthy: status?.fenced !== true && (memory.failingSince === undefined || now - memory.failingSince <= TREE_FAILING_LIMIT_MS),
      failing,
      queued: waiting,
      bytesUploaded: status?.uploadedBytes ?? 0,
      itemsUploaded: status?.uploadedItems ?? 0,
      lastError: status?.lastError ? { message: redact(status.lastError.message), at: status.lastError.at.toISOString() } : null,
      mode: null,
      lagBytes: 0,
      transactionsShipped: 0,
      generation: null,
      fenced: status?.fenced === true,
      lastVerify: null,
    };
  }
}

/**
 * Milliseconds between two snapshots of the configured schedule: the interval itself, or for a cron
 * expression the longest gap among its next runs (a daily cron gives a day). Falls back to 5 minutes.
 */
export function schedulePeriodMs(text: string): number {
  try {
    const schedule = parseSchedule(text);
    if (schedule.kind === 'interval') return schedule.ms;
    const task = cron.createTask(schedule.expression, () => undefined);
    try {
      const runs = task.getNextRuns(12).map((d) => d.getTime());
      const gaps = runs.slice(1).map((t, i) => t - runs[i]!);
      return gaps.length > 0 ? Math.max(...gaps) : 5 * 60_000;
    } finally {
      void task.destroy();
    }
  } catch {
    return 5 * 60_000;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
