import type { CommandInvocation } from './command-invocation.js';
import { formatBytes, formatDuration } from '../log/human-format.js';
import { lineageGeneration } from '../sqlite/restore-point.js';
import { verifySnapshot } from '../sqlite/verify-snapshot.js';
import type { CommandContext } from './command-context.js';
import { openReplica } from './open-replica.js';
import { requireTargets } from './require-replica.js';
import { exitCodeForOutcomes, printOutcomes, runTargetTasks } from './target-outcomes.js';

/** `persistd verify`: restores the latest state (snapshot and WAL segments) or a chosen snapshot of each database into a temp place and checks it. */
export async function verifyCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const { config, logger, signal } = ctx;
  requireTargets(config, 'verify');
  const { store } = openReplica(config, logger);
  const snapshotId = typeof invocation.options.snapshot === 'string' ? invocation.options.snapshot : undefined;
  const outcomes = await runTargetTasks(
    config.databases.map((db) => ({
      kind: 'db' as const,
      name: db.name,
      run: async () => {
        const preferredGeneration = snapshotId ? undefined : await lineageGeneration(store, db.name, logger, signal);
        const result = await verifySnapshot({
          store,
          name: db.name,
          stateDir: config.stateDir,
          quickCheck: invocation.options.quickCheck === true,
          logger,
          signal,
          ...(snapshotId ? { snapshotId } : {}),
          ...(preferredGeneration ? { preferredGeneration } : {}),
        });
        const rows = result.tables.map((table) => `${table.table}=${table.rows}`).join(', ');
        const wal =
          result.segmentsApplied > 0
            ? ` + ${result.segmentsApplied} WAL segment(s), ${result.transactionsApplied} transaction(s) to ${result.restoredTo.toISOString()}`
            : '';
        return {
          summary: `snapshot ${result.snapshotId}${wal} OK (${formatBytes(result.manifest.db.size)}, sha256${wal ? ', WAL checksums' : ''} and ${invocation.options.quickCheck ? 'quick_check' : 'integrity_check'} passed, ${formatDuration(result.durationMs)}); rows: ${rows || 'no tables'}`,
          details: {
            snapshotId: result.snapshotId,
            segmentsApplied: result.segmentsApplied,
            transactionsApplied: result.transactionsApplied,
            restoredTo: result.restoredTo.toISOString(),
            tables: result.tables,
          },
        };
      },
    })),
  );
  printOutcomes(ctx, outcomes, invocation.options.json === true);
  return exitCodeForOutcomes(outcomes, false);
}
