import type { FinalBackupReport } from './replication-daemon.js';

/** The final backup as a whole: the last attempt's outcome, over the time all attempts took. */
export interface RetriedFinalBackup extends FinalBackupReport {
  attempts: number;
}

/** How long to wait between two attempts (less when the deadline is nearer). */
export const FINAL_BACKUP_RETRY_PAUSE_MS = 500;

/**
 * Runs the final backup again while it fails and the deadline (`deadlineMs` from now) has not passed:
 * a store that is down at shutdown may come back within the grace period, and giving up after the
 * store's own few retries would waste the rest of it. Each attempt gets the time that is left.
 */
export async function retryFinalBackup(
  attempt: (remainingMs: number) => Promise<FinalBackupReport>,
  deadlineMs: number,
  onRetry: (failed: FinalBackupReport, remainingMs: number) => void = () => {},
): Promise<RetriedFinalBackup> {
  const started = Date.now();
  const deadline = started + deadlineMs;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const report = await attempt(Math.max(1, deadline - Date.now()));
    const remainingMs = deadline - Date.now();
    if (report.complete || remainingMs <= 0) return { ...report, durationMs: Date.now() - started, deadlineMs, attempts };
    onRetry(report, remainingMs);
    await new Promise((resolve) => setTimeout(resolve, Math.min(FINAL_BACKUP_RETRY_PAUSE_MS, remainingMs)));
  }
}
