import type { Logger } from 'pino';
import type { CommandInvocation } from './command-invocation.js';
import type { AppExit, AppSupervisor } from '../engine/app-supervisor.js';
import { forwardSignals } from '../engine/forward-signals.js';
import { startMetricsServer, type MetricsServer } from '../engine/metrics-server.js';
import type { ReplicationDaemon } from '../engine/replication-daemon.js';
import { RunStatusTracker } from '../engine/run-status.js';
import { StatusFileWriter } from '../engine/status-file.js';
import { ZombieReaper } from '../engine/zombie-reaper.js';
import { EXIT_CODES } from '../exit-codes.js';
import { messageOf, PersistdError, usageError } from '../errors.js';
import type { Config } from '../config/config.js';
import type { RestoredFrom } from '../format/db-lineage.js';
import type { ContinueFrom } from '../sqlite/wal/wal-shipper.js';
import { rememberReplicaMarker } from '../files/files-state-dir.js';
import { ensureReplicaMarker } from '../format/replica-marker.js';
import { encryptExistingReplica } from './encrypt-existing-replica.js';
import { formatDuration } from '../log/human-format.js';
import { newInstanceIdentity } from '../sqlite/lineage-guard.js';
import type { ObjectStore } from '../store/object-store.js';
import type { OpenedStore } from '../store/open-store.js';
import type { CommandContext } from './command-context.js';
import { openReplica } from './open-replica.js';
import { requireReplica, requireTargets } from './require-replica.js';
import type { restoreAll } from './restore.js';
import type { RestoreTargetOutcome } from './restore-results.js';
import { runModules } from './run-modules.js';
import { exitCodeForOutcomes, printOutcomes } from './target-outcomes.js';

const STOP_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGTERM', 'SIGINT', 'SIGQUIT']);
/** Exit code when --restore-timeout passed: the store is unreachable or too slow (README "Exit codes"). */

/** `persistd run -- <app>`: restore, start the app, replicate, and take a final backup when it stops. */
export async function runCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const [command, ...args] = invocation.args;
  if (!command) {
    throw usageError(
      'run: no app command given',
      'put the app command after --, e.g. persistd run --to s3://bucket/app --db ./app.db -- node server.js',
    );
  }
  // As PID 1 (or with PERSISTD_SUBREAPER=1) orphans of the app become persistd's children: reap them.
  const reaper = ZombieReaper.start({ env: ctx.env, logger: ctx.logger });
  try {
    if (ctx.config.disabled) {
      ctx.logger.warn('PERSISTD_DISABLED is set: the app runs WITHOUT persistence; its data will be lost with this container');
      return await superviseWithoutPersistence(ctx, command, args);
    }
    requireReplica(ctx.config);
    requireTargets(ctx.config, 'run');
    return await new RunSession(ctx, command, args).run();
  } finally {
    reaper.stop();
  }
}

/** One `persistd run`: its state machine from restore to exit, and its reaction to signals. */
class RunSession {
  private app: AppSupervisor | undefined;
  private stopSignals = 0;
  private readonly restoreAbort = new AbortController();
  /** What status.json, /metrics and /healthz report. */
  private readonly status: RunStatusTracker;
  /** This process in lineage pointers. */
  private readonly instance = newInstanceIdentity();

  constructor(
    private readonly ctx: CommandContext,
    private readonly command: string,
    private readonly args: string[],
  ) {
    this.status = new RunStatusTracker(ctx.config);
  }

  async run(): Promise<number> {
    const { ctx } = this;
    const { config, logger } = ctx;
    const removeListeners = forwardSignals(ctx.signals, (signal) => this.onSignal(signal));
    let daemon: ReplicationDaemon | undefined;
    const statusFile = new StatusFileWriter({
      stateDir: config.stateDir,
      snapshot: () => this.status.snapshot(),
      logger,
      onWritten: (problem) => this.status.setStateDirProblem(problem),
    });
    let metrics: MetricsServer | undefined;
    try {
      statusFile.start();
      this.status.onChange(() => void statusFile.write());
      if (config.metricsAddr) metrics = await startMetricsServer(config.metricsAddr, () => this.status.snapshot(), logger);
      const started = Date.now();
      const { store, counting, backend } = openReplica(config, logger);
      this.status.attach({ replica: store.description, counting });
      // Not AbortSignal.timeout(): AbortSignal.any() holds its sources weakly, and a timeout signal nothing
      // else references can be garbage-collected before it fires (Node 20), leaving the restore unbounded.
      const restoreTimeout = new AbortController();
      const restoreTimer = setTimeout(
        () => restoreTimeout.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
        config.restoreTimeoutMs,
      );
      const restoreSignal = AbortSignal.any([this.restoreAbort.signal, restoreTimeout.signal]);
      const marking = this.markReplica(store, restoreSignal);
      // The rest of run's modules load while the marker's GET is in flight (not before it: see run-modules.ts).
      const loading = runModules();
      loading.catch(() => undefined); // awaited below; a failure to load is reported there, not as unhandled
      await marking;
      await loading;
      const outcomes = await this.restoreTargets(restoreSignal).finally(() => clearTimeout(restoreTimer));
      if (outcomes === undefined || this.restoreAbort.signal.aborted) {
        logger.warn('stopped during restore: the app was not started');
        return EXIT_CODES.interrupted;
      }
      if (outcomes.some((outcome) => !outcome.ok)) {
        this.status.setError('restore failed while a backup exists: the app was not started');
        printOutcomes(ctx, outcomes, false);
        if (restoreSignal.aborted)
          logger.error(`restore did not finish within --restore-timeout ${formatDuration(config.restoreTimeoutMs)}`);
        logger.error(
          'restore failed while a backup exists: the app is NOT started, so it cannot run on missing or stale data (the platform will restart persistd)',
        );
        return restoreSignal.aborted ? EXIT_CODES.storage : exitCodeForOutcomes(outcomes, false);
      }
      const restoredFrom = restoredFromOutcomes(outcomes);
      const continueFrom = await continuationsOf(outcomes, config, store, logger);
      await checkUnrestoredDatabases(outcomes, config.databases);
      logger.info(
        { durationMs: Date.now() - started, targets: outcomes.map((o) => `${o.kind} ${o.name}: ${o.summary}`) },
        'restore complete',
      );

      this.status.markRestored();
      // Databases first: a restored one continues its generation before the app can commit anything.
      daemon = await this.startReplication(store, backend, restoredFrom, continueFrom);
      if (daemon) this.status.attach({ daemon });
      else this.status.setError('replication could not start: the app runs without backups');
      if (this.restoreAbort.signal.aborted) {
        logger.warn('stopped before the app started');
        return EXIT_CODES.interrupted;
      }
      logger.info('starting the app');
      const { AppSupervisor } = await runModules();
      this.app = await AppSupervisor.start({ command: this.command, args: this.args, env: ctx.env, cwd: ctx.cwd });
      this.status.setAppPid(this.app.pid);
      logger.info({ pid: this.app.pid, command: this.command }, 'app started');
      await daemon?.startWatching();
      this.status.setPhase('running');

      const exit = await this.app.exited;
      this.status.setPhase('stopping');
      if (daemon) {
        logger.info({ code: exit.code, signal: exit.signal }, 'app exited; taking the final backup');
        await this.finalBackup(daemon, exit);
      } else {
        logger.error({ code: exit.code, signal: exit.signal }, 'app exited; no final backup because replication never started');
      }
      return exit.exitCode;
    } catch (err) {
      if (err instanceof PersistdError && this.app === undefined && this.restoreAbort.signal.aborted) return EXIT_CODES.interrupted;
      if (this.app && !this.app.hasExited) {
        logger.error({ err }, 'persistd failed while the app runs; stopping the app');
        await this.app.stop('SIGTERM', config.appStopTimeoutMs);
      }
      throw err;
    } finally {
      removeListeners();
      await daemon?.stop();
      this.status.setPhase('stopped');
      await metrics?.close();
      await statusFile.stop();
    }
  }

  /**
   * Writes (or raises) the replica's format marker before the restore, so that the files caches the
   * restore fills are bound to the replica's id from the start. A replica of a newer format stops `run`;
   * any other failure is left to the restore to report.
   */
  private async markReplica(store: ObjectStore, signal: AbortSignal): Promise<void> {
    try {
      rememberReplicaMarker(store, await ensureReplicaMarker(store, signal));
    } catch (err) {
      if (err instanceof PersistdError && err.kind === 'usage') throw err;
      this.ctx.logger.warn(
        { err: messageOf(err) },
        'could not write the replica format marker before the restore; retrying once replication starts',
      );
    }
  }

  // restoreAll() rethrows an abort as it is: a stop signal during restore ends persistd quietly (exit
  // 130, the app never started); --restore-timeout is a storage failure (exit 4) with a hint.
  private async restoreTargets(signal: AbortSignal): Promise<Awaited<ReturnType<typeof restoreAll>> | undefined> {
    const { config } = this.ctx;
    try {
      const { restoreAll } = await runModules();
      return await Promise.race([
        restoreAll({ ...this.ctx, signal }, { ifNotExists: true, ifReplicaExists: true }),
        abandonAfterAbort(signal),
      ]);
    } catch (err) {
      if (this.restoreAbort.signal.aborted) return undefined;
      if (!signal.aborted) throw err;
      this.status.setError('restore timed out: the app was not started');
      throw new PersistdError(
        `restore did not finish within --restore-timeout ${formatDuration(config.restoreTimeoutMs)}: the app is NOT started`,
        {
          kind: 'storage',
          op: 'restore',
          cause: err,
          hint: 'check that the store is reachable from here (persistd doctor), or raise --restore-timeout for a large backup; the platform will restart persistd',
        },
      );
    }
  }

  // Once the app runs, a replication failure must not take persistd down and orphan the app:
  // it is logged loudly and the app keeps running (health and status report it).
  // Every database starts a generation of this instance right away (a snapshot, then WAL frames or
  // scheduled snapshots) and takes the lineage pointer with it.
  private async startReplication(
    store: ObjectStore,
    backend: OpenedStore['backend'],
    restoredFrom: ReadonlyMap<string, RestoredFrom>,
    continueFrom: ReadonlyMap<string, ContinueFrom>,
  ): Promise<ReplicationDaemon | undefined> {
    const { config, logger } = this.ctx;
    await checkConditionalWrites(backend, config.databases.length > 0, logger);
    try {
      await ensureReplicaMarker(store);
    } catch (err) {
      logger.error({ err }, 'could not write the replica format marker; retrying with the next backup');
    }
    try {
      // Switching encryption on starts every database afresh: nothing after the switch needs a plaintext object.
      const switched = (await encryptExistingReplica(store, logger)) !== undefined;
      const { ReplicationDaemon } = await runModules();
      const daemon = new ReplicationDaemon(config, store, logger, {
        instance: this.instance,
        restoredFrom,
        continueFrom: switched ? new Map() : continueFrom,
      });
      await daemon.startDatabases();
      await daemon.claimFiles();
      return daemon;
    } catch (err) {
      logger.error({ err }, 'replication could not start: the app keeps running WITHOUT backups until persistd is restarted');
      return undefined;
    }
  }

  private onSignal(signal: NodeJS.Signals): void {
    const { logger, config } = this.ctx;
    const app = this.app;
    if (!app) {
      if (STOP_SIGNALS.has(signal) || signal === 'SIGHUP') this.restoreAbort.abort(new Error(`received ${signal}`));
      return;
    }
    if (!STOP_SIGNALS.has(signal)) {
      app.forward(signal);
      return;
    }
    this.stopSignals += 1;
    this.status.setPhase('stopping');
    if (this.stopSignals === 1) {
      logger.info({ signal, appStopTimeoutMs: config.appStopTimeoutMs }, 'forwarding the signal to the app and waiting for it to exit');
      void app.stop(signal, config.appStopTimeoutMs);
    } else {
      logger.warn({ signal }, 'second stop signal: killing the app now');
      app.forward('SIGKILL');
    }
  }

  private async finalBackup(daemon: ReplicationDaemon, exit: AppExit): Promise<void> {
    const { logger, config } = this.ctx;
    const { retryFinalBackup } = await runModules();
    const report = await retryFinalBackup(
      (remainingMs) => daemon.finalBackup(remainingMs),
      config.shutdownTimeoutMs,
      (failed, remainingMs) => {
        logger.warn(
          { failures: failed.failures, remainingMs, appExitCode: exit.exitCode },
          'final backup failed; retrying until --shutdown-timeout',
        );
      },
    );
    const fields = {
      durationMs: report.durationMs,
      deadlineMs: report.deadlineMs,
      attempts: report.attempts,
      appExitCode: exit.exitCode,
      ...(report.keptAside ? { fenced: true, keptAside: report.keptAside } : {}),
    };
    if (!report.complete) {
      this.status.setError(`final backup incomplete: ${report.failures.join('; ')}`);
      logger.error({ ...fields, failures: report.failures }, 'final backup INCOMPLETE: changes since the last successful sync may be lost');
    } else if (report.keptAside) {
      const aside = report.keptAside;
      logger.warn(
        fields,
        `final backup kept aside (fenced: another instance took over the files): ${aside.files} file(s) (${aside.bytes} B) under this instance's aside prefix, ${aside.deletesHeld} delete(s) held; persistd restore --aside ${aside.instance} brings them back`,
      );
    } else if (report.durationMs > report.deadlineMs * 0.8) {
      logger.warn(fields, "final backup took most of --shutdown-timeout; raise it (and the platform's grace period) to be safe");
    } else {
      logger.info(fields, 'final backup complete');
    }
  }
}

/** Grace for a restore to wind down after its signal fired, before `run` stops waiting for it. */
const RESTORE_ABANDON_GRACE_MS = 5_000;

/**
 * Rejects with the signal's reason once `signal` has been aborted for RESTORE_ABANDON_GRACE_MS: a stop
 * signal or --restore-timeout ends the wait even if some request never honours the signal.
 */
function abandonAfterAbort(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    const arm = (): void => void setTimeout(() => reject(signal.reason), RESTORE_ABANDON_GRACE_MS).unref();
    if (signal.aborted) arm();
    else signal.addEventListener('abort', arm, { once: true });
  });
}

async function superviseWithoutPersistence(ctx: CommandContext, command: string, args: string[]): Promise<number> {
  const { AppSupervisor } = await runModules();
  const app = await AppSupervisor.start({ command, args, env: ctx.env, cwd: ctx.cwd });
  const stopForwarding = forwardSignals(ctx.signals, (signal) => app.forward(signal));
  try {
    return (await app.exited).exitCode;
  } finally {
    stopForwarding();
  }
}

/**
 * For each database just restored (WAL mode, a short enough chain): the state its first generation
 * continues from, with the file's fingerprint now, before anything else opens it. A database kept on
 * disk from before continues too when it is exactly what the last clean stop replicated (logged either way).
 */
async function continuationsOf(
  outcomes: readonly RestoreTargetOutcome[],
  config: Config,
  store: ObjectStore,
  logger: Logger,
): Promise<Map<string, ContinueFrom>> {
  const { keptDiskContinuation, logKeptDisk, readFingerprint } = await runModules();
  const map = new Map<string, ContinueFrom>();
  for (const outcome of outcomes) {
    if (outcome.kind !== 'db') continue;
    const details = outcome.details;
    const path = config.databases.find((db) => db.name === outcome.name)?.path;
    if (details?.restored === false && details.reason === 'exists' && path !== undefined) {
      const kept = await keptDiskContinuation({ store, name: outcome.name, path, stateDir: config.stateDir });
      logKeptDisk(logger, outcome.name, kept);
      if ('continueFrom' in kept) map.set(outcome.name, kept.continueFrom);
      continue;
    }
    if (details?.restored !== true || details.continuation === undefined || path === undefined) continue;
    const chain = details.continuation.chain;
    map.set(outcome.name, { base: details.continuation.base, fingerprint: await readFingerprint(path), ...(chain ? { chain } : {}) });
  }
  return map;
}

/**
 * Every database this run did not restore (it was there already, or the replica has none) is checked
 * before replication snapshots it into a new generation: a damaged one stops `run` here (kind
 * `integrity`), before anything is stored and before the app starts.
 */
async function checkUnrestoredDatabases(outcomes: readonly RestoreTargetOutcome[], databases: Config['databases']): Promise<void> {
  const { checkLocalDatabase } = await runModules();
  for (const db of databases) {
    const outcome = outcomes.find((o) => o.kind === 'db' && o.name === db.name);
    if (outcome?.kind !== 'db' || outcome.details?.restored !== true) await checkLocalDatabase(db.path);
  }
}

/** What each restored database was restored from, for the lineage pointer its new generation takes. */
function restoredFromOutcomes(outcomes: readonly RestoreTargetOutcome[]): Map<string, RestoredFrom> {
  const map = new Map<string, RestoredFrom>();
  for (const outcome of outcomes) {
    if (outcome.kind !== 'db' || outcome.details?.restored !== true) continue;
    const { generation, wal, restoredTo } = outcome.details;
    map.set(outcome.name, { generation, wal, restoredTo });
  }
  return map;
}

/**
 * Overlapping instances are kept apart by conditional writes of the lineage pointer: find out once
 * whether the store honours them, and say at start when it does not.
 */
async function checkConditionalWrites(backend: OpenedStore['backend'], needed: boolean, logger: CommandContext['logger']): Promise<void> {
  if (!needed) return;
  try {
    if (backend.capabilities.conditionalWrites === 'unknown') await backend.probeConditionalWrites();
  } catch (err) {
    logger.warn({ err }, 'could not find out whether the store supports conditional writes; assuming it does');
    return;
  }
  if (backend.capabilities.conditionalWrites === false) {
    logger.warn(
      { store: backend.description },
      'the store does not support conditional writes (If-Match/If-None-Match): the lineage pointer is checked before it is written and after every shipped sync, ' +
        'but two instances starting within the same instant could both write until the next check. Avoid overlapping deploys on this store, or use one that supports them',
    );
  }
}
