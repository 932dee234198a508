import type { CommandInvocation } from './command-invocation.js';
import { rememberReplicaMarker } from '../files/files-state-dir.js';
import { createLooseFileSync } from '../files/loose-file.js';
import { TreeSync, type SyncOnceOptions } from '../files/tree-sync.js';
import { PersistdError } from '../errors.js';
import { ensureReplicaMarker } from '../format/replica-marker.js';
import { formatBytes, formatDuration } from '../log/human-format.js';
import { applyRetention } from '../sqlite/apply-retention.js';
import { snapshotDatabase } from '../sqlite/snapshot-database.js';
import type { ObjectStore } from '../store/object-store.js';
import type { CommandContext } from './command-context.js';
import { encryptExistingReplica } from './encrypt-existing-replica.js';
import { openReplica } from './open-replica.js';
import { requireTargets } from './require-replica.js';
import { exitCodeForOutcomes, printOutcomes, runTargetTasks, type TargetTask } from './target-outcomes.js';

/** `persistd backup`: snapshot every database, then sync every directory and loose file once; exit 0, 3 (partial) or 4. */
export async function backupCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const { config, logger, signal } = ctx;
  requireTargets(config, 'backup');
  const { store } = openReplica(config, logger);
  const marker = await ensureReplicaMarker(store, signal);
  rememberReplicaMarker(store, (await encryptExistingReplica(store, logger, signal)) ?? marker);
  const tasks: TargetTask[] = [
    ...config.databases.map((db): TargetTask => ({
      kind: 'db',
      name: db.name,
      run: async () => {
        const result = await snapshotDatabase({ store, name: db.name, path: db.path, stateDir: config.stateDir, logger, signal });
        if (result.outcome === 'missing')
          return { summary: `${db.path} does not exist yet: nothing to back up`, details: { outcome: 'missing' } };
        if (result.outcome === 'unchanged') return { summary: `unchanged since snapshot ${result.snapshotId}`, details: { ...result } };
        const retention = await applyRetention({
          store,
          name: db.name,
          retentionMs: config.retentionMs,
          minKeep: config.retentionMin,
          logger,
          signal,
        });
        const { manifest } = result;
        return {
          summary:
            `snapshot ${result.snapshotId}: ${formatBytes(manifest.db.size)} stored as ${formatBytes(manifest.data.size)} in ${formatDuration(result.durationMs)}` +
            (retention.deletedSnapshots.length ? `; retention removed ${retention.deletedSnapshots.length} old snapshot(s)` : ''),
          details: {
            outcome: 'created',
            snapshotId: result.snapshotId,
            size: manifest.db.size,
            storedSize: manifest.data.size,
            durationMs: result.durationMs,
          },
        };
      },
    })),
    ...config.directories.map((dir): TargetTask => ({
      kind: 'dir',
      name: dir.name,
      run: () =>
        syncOnce(
          store,
          ctx,
          () =>
            new TreeSync({
              store,
              name: dir.name,
              root: dir.path,
              stateDir: config.stateDir,
              concurrency: config.concurrency,
              include: [...config.include],
              exclude: [...config.exclude],
              keepDeletedMs: config.keepDeletedMs,
              maxDeleteFraction: config.maxDelete,
              logger,
            }),
          { deleteUnseen: true, reconcile: true },
        ),
    })),
    ...config.files.map((file): TargetTask => ({
      kind: 'file',
      name: file.name,
      run: () =>
        syncOnce(
          store,
          ctx,
          () =>
            createLooseFileSync({
              store,
              name: file.name,
              path: file.path,
              stateDir: config.stateDir,
              keepDeletedMs: config.keepDeletedMs,
              logger,
            }),
          { reconcile: true },
        ),
    })),
  ];
  const outcomes = await runTargetTasks(tasks);
  printOutcomes(ctx, outcomes, invocation.options.json === true);
  return exitCodeForOutcomes(outcomes, true);
}

async function syncOnce(
  _store: ObjectStore,
  ctx: CommandContext,
  create: () => TreeSync,
  options: SyncOnceOptions = {},
): Promise<{ summary: string; details: Record<string, unknown> }> {
  const started = Date.now();
  const sync = create();
  try {
    const status = await sync.syncOnce(options);
    const failedUploads = status.failing - status.unreadable.filter((p) => !p.endsWith('/')).length;
    const problems = [
      status.unreadable.length
        ? `${status.unreadable.length} unreadable file(s) or folder(s) skipped (first: ${status.unreadable[0]})`
        : '',
      failedUploads > 0
        ? `${failedUploads} file(s) failed to upload (last error: ${status.lastError?.path ?? ''}: ${status.lastError?.message ?? 'unknown'})`
        : '',
    ].filter(Boolean);
    // Nothing stored and uploads failing (the store down, credentials refused): that error, with its own exit code.
    const cause = sync.lastErrorCause();
    if (failedUploads > 0 && status.uploadedItems === 0 && cause instanceof PersistdError) throw cause;
    const deleted = status.deletedItems > 0 ? `, ${status.deletedItems} deleted` : '';
    const inReplica = status.inReplica ?? status.indexed;
    const lost = status.lostFromReplica > 0 ? ` (${status.lostFromReplica} were missing from the replica or replaced there)` : '';
    const summary = `${status.uploadedItems} file(s) uploaded (${formatBytes(status.uploadedBytes)})${lost}${deleted}, ${inReplica} in the replica, in ${formatDuration(Date.now() - started)}`;
    if (status.deletesPaused) {
      throw new PersistdError(
        `${summary}; ${status.pendingDeletes} file(s) vanished at once, so remote deletes were held back (mass-delete guard)`,
        {
          kind: 'partial',
          op: 'backup',
          path: status.label,
          hint: 'nothing was deleted remotely; if the files were removed on purpose, run the backup with a higher --max-delete',
        },
      );
    }
    if (problems.length > 0) {
      // Files that are not in the replica are not protected: the backup says so in its exit code, not only in a log line.
      throw new PersistdError(`${summary}; ${problems.join('; ')}`, {
        kind: 'partial',
        op: 'backup',
        path: status.label,
        hint: 'give persistd read access (or --exclude what it should not back up) and check the store, then run the backup again; everything else was stored',
      });
    }
    return {
      summary,
      details: {
        uploaded: status.uploadedItems,
        bytes: status.uploadedBytes,
        deleted: status.deletedItems,
        inReplica,
        lostFromReplica: status.lostFromReplica,
        indexed: status.indexed,
        unreadable: status.unreadable,
      },
    };
  } finally {
    await sync.stop();
    ctx.logger.flush?.();
  }
}
