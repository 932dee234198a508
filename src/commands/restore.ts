import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CommandInvocation } from './command-invocation.js';
import { PersistdError, usageError } from '../errors.js';
import { restoreFile } from '../files/loose-file.js';
import type { RestoreOutcome } from '../files/restore-entry.js';
import { restoreTree } from '../files/restore-tree.js';
import { parseSnapshotId } from '../format/db-keys.js';
import { isInstanceId } from '../format/files-owner.js';
import { readReplicaMarker } from '../format/replica-marker.js';
import { prefetchRestore } from '../sqlite/restore-prefetch.js';
import { continuationBaseOf } from '../sqlite/continuation-base.js';
import { formatBytes, formatDuration } from '../log/human-format.js';
import { restoreDatabase } from '../sqlite/restore-database.js';
import { assertGenerationId, lineageGeneration } from '../sqlite/restore-point.js';
import type { CommandContext } from './command-context.js';
import { openReplica } from './open-replica.js';
import { requireIdentityFor } from './require-identity.js';
import { requireTargets } from './require-replica.js';
import type { RestoreTargetOutcome, RestoreTask } from './restore-results.js';
import { exitCodeForOutcomes, printOutcomes, runTargetTasks } from './target-outcomes.js';

/** Options of `persistd restore` (and of the restore step of `run`). */
export interface RestoreCommandOptions {
  timestamp?: Date;
  snapshotId?: string;
  generation?: string;
  output?: string;
  force?: boolean;
  ifNotExists?: boolean;
  ifReplicaExists?: boolean;
  quickCheck?: boolean;
  includeDeleted?: boolean;
  /** Restore the files and directories this fenced instance kept aside instead of the live ones (databases are skipped). */
  aside?: string;
}

/** `persistd restore`: restores every configured database, directory and file; verified and atomic; never clobbers. */
export async function restoreCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const options = parseRestoreOptions(invocation.options);
  if (options.output && ctx.config.databases.length !== 1) {
    throw usageError('-o/--output needs exactly one --db', 'give the one database to restore with --db and where to put it with -o');
  }
  const outcomes = await restoreAll(ctx, options);
  printOutcomes(ctx, outcomes, invocation.options.json === true);
  return exitCodeForOutcomes(outcomes, false);
}

/** Restores every target of the config; used by `restore` and by `run` before the app starts. */
export async function restoreAll(ctx: CommandContext, options: RestoreCommandOptions): Promise<RestoreTargetOutcome[]> {
  const { config, logger, signal } = ctx;
  requireTargets(config, 'restore');
  const { store } = openReplica(config, logger);
  const marker = readReplicaMarker(store, signal);
  // Each database's first reads go out with the marker's; none when the database is kept or skipped.
  const prefetches = new Map(
    config.databases
      .filter((db) => options.aside === undefined && (options.force === true || !existsSync(resolve(options.output ?? db.path))))
      .map((db) => [db.name, prefetchRestore(store, db.name, !options.snapshotId && !options.generation, logger, signal)]),
  );
  requireIdentityFor(await marker, config.age, store.description);
  const tasks: RestoreTask[] = [
    ...config.databases.map((db): RestoreTask => ({
      kind: 'db',
      name: db.name,
      run: async () => {
        if (options.aside !== undefined) {
          return {
            summary: "skipped (--aside): a fenced instance's database writes stay in its own generation; restore it with --generation",
            details: { restored: false, reason: 'aside' },
          };
        }
        const prefetch = prefetches.get(db.name);
        const preferredGeneration =
          options.snapshotId || options.generation
            ? undefined
            : await (prefetch?.preferredGeneration ?? lineageGeneration(store, db.name, logger, signal));
        const result = await restoreDatabase({
          ...(preferredGeneration ? { preferredGeneration } : {}),
          ...(prefetch ? { catalog: prefetch.catalog } : {}),
          store,
          name: db.name,
          target: db.path,
          stateDir: config.stateDir,
          logger,
          signal,
          ...(options.output ? { output: options.output } : {}),
          ...(options.timestamp ? { timestamp: options.timestamp } : {}),
          ...(options.snapshotId ? { snapshotId: options.snapshotId } : {}),
          ...(options.generation ? { generation: options.generation } : {}),
          force: options.force === true,
          ifNotExists: options.ifNotExists === true,
          ifReplicaExists: options.ifReplicaExists === true,
          quickCheck: options.quickCheck === true,
        });
        if (!result.restored) {
          return {
            summary: result.reason === 'exists' ? `${result.path} exists: kept (--if-not-exists)` : 'no backup yet: nothing to restore',
            details: { restored: false, reason: result.reason },
          };
        }
        const continuation = continuationBaseOf(result);
        const wal =
          result.segmentsApplied > 0 ? ` + ${result.segmentsApplied} WAL segment(s) (${result.transactionsApplied} transaction(s))` : '';
        const incomplete = `${result.incomplete !== undefined ? `; INCOMPLETE: ${result.incomplete}` : ''}${result.notice !== undefined ? `; WARNING: ${result.notice}` : ''}`;
        return {
          summary: `restored snapshot ${result.snapshotId}${wal} to ${result.path} (${formatBytes(result.manifest.db.size)} snapshot, verified), as of ${result.restoredTo.toISOString()}, in ${formatDuration(result.durationMs)}${incomplete}`,
          details: {
            restored: true,
            snapshotId: result.snapshotId,
            generation: generationOf(result.snapshotId),
            path: result.path,
            segmentsApplied: result.segmentsApplied,
            transactionsApplied: result.transactionsApplied,
            restoredTo: result.restoredTo.toISOString(),
            bytes: result.manifest.db.size,
            wal: result.wal,
            ...(result.incomplete !== undefined ? { incomplete: result.incomplete } : {}),
            ...(continuation !== undefined ? { continuation } : {}),
          },
        };
      },
    })),
    ...config.directories.map((dir): RestoreTask => ({
      kind: 'dir',
      name: dir.name,
      run: async () => {
        const report = await restoreTree({
          store,
          name: dir.name,
          root: dir.path,
          stateDir: config.stateDir,
          concurrency: config.concurrency,
          includeDeleted: options.includeDeleted === true,
          ...(options.aside !== undefined ? { aside: options.aside } : {}),
          restoreSpecialModes: config.restoreSpecialModes,
          logger,
          signal,
        });
        const notes = [
          report.conflicts.length ? `${report.conflicts.length} local file(s) differ and were kept` : '',
          report.refused.length ? `${report.refused.length} unsafe key(s) refused` : '',
          report.undeleted.length ? `${report.undeleted.length} brought back from the trash` : '',
          report.metadataProblems.length
            ? `${report.metadataProblems.length} with INVALID metadata, not used (first: ${report.metadataProblems[0]?.path}: ${report.metadataProblems[0]?.why})`
            : '',
          report.modesMasked.length
            ? `${report.modesMasked.length} without setuid/setgid or world-write (first: ${report.modesMasked[0]?.path}: ${report.modesMasked[0]?.why}; --restore-special-modes keeps them)`
            : '',
          report.unverified.length
            ? `${report.unverified.length} UNVERIFIED (no persistd checksum on the object: written or changed by another tool; size checked only; first: ${report.unverified[0]})`
            : '',
        ].filter(Boolean);
        return {
          summary: `${report.downloaded} file(s) restored (${formatBytes(report.bytes)}), ${report.skipped} already present${notes.length ? `; ${notes.join('; ')}` : ''}`,
          details: report,
        };
      },
    })),
    ...config.files.map((file): RestoreTask => ({
      kind: 'file',
      name: file.name,
      run: async () => {
        const result = await restoreFile({
          store,
          name: file.name,
          path: file.path,
          stateDir: config.stateDir,
          restoreSpecialModes: config.restoreSpecialModes,
          logger,
          signal,
          ...(options.aside !== undefined ? { aside: options.aside } : {}),
        });
        return {
          summary: result.kind === 'absent' ? 'no backup yet: nothing to restore' : describeFileOutcome(result),
          details: { outcome: result.kind, ...(result.kind === 'downloaded' ? { verified: result.verified } : {}) },
        };
      },
    })),
  ];
  return runTargetTasks(tasks);
}

/** The generation of a snapshot id a restore returned (always well-formed: it came from a listing). */
function generationOf(snapshotId: string): string {
  const ref = parseSnapshotId(snapshotId);
  if (ref === undefined)
    throw new PersistdError(`restored snapshot id "${snapshotId}" is not <generation>/<seq>`, { kind: 'internal', op: 'restore' });
  return ref.generation;
}

function describeFileOutcome(outcome: RestoreOutcome): string {
  if (outcome.kind === 'downloaded')
    return outcome.verified
      ? 'restored (verified)'
      : 'restored, UNVERIFIED: the object has no persistd checksum (written or changed by another tool); size checked only';
  return outcome.kind === 'skipped' ? 'already present and identical' : 'a different local file exists: kept (local wins)';
}

function parseRestoreOptions(raw: Record<string, unknown>): RestoreCommandOptions {
  const options: RestoreCommandOptions = {
    force: raw.force === true,
    ifNotExists: raw.ifNotExists === true,
    ifReplicaExists: raw.ifReplicaExists === true,
    quickCheck: raw.quickCheck === true,
    includeDeleted: raw.includeDeleted === true,
  };
  if (typeof raw.timestamp === 'string') {
    const time = new Date(raw.timestamp);
    if (Number.isNaN(time.getTime()))
      throw usageError(`--timestamp "${raw.timestamp}" is not a date`, 'use ISO 8601, e.g. 2026-11-20T10:00:00Z');
    options.timestamp = time;
  }
  if (typeof raw.snapshot === 'string') options.snapshotId = raw.snapshot;
  if (typeof raw.generation === 'string') {
    assertGenerationId(raw.generation);
    options.generation = raw.generation;
  }
  if (typeof raw.output === 'string') options.output = raw.output;
  if (typeof raw.aside === 'string') {
    if (!isInstanceId(raw.aside))
      throw usageError(`--aside "${raw.aside}" is not an instance id`, 'copy the id from persistd snapshots (section "kept aside")');
    if (options.includeDeleted)
      throw usageError('--aside and --include-deleted cannot be combined', 'a fenced instance keeps no trash aside: give one of them');
    options.aside = raw.aside;
  }
  if (options.force && options.ifNotExists) throw usageError('--force and --if-not-exists contradict each other', 'give one of them');
  if (options.timestamp && options.snapshotId) throw usageError('--timestamp and --snapshot both choose a snapshot', 'give one of them');
  if (options.generation && options.snapshotId) {
    throw usageError(
      '--generation and --snapshot both choose where to restore from',
      'a snapshot id already names its generation: give one of them',
    );
  }
  return options;
}
