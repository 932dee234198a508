import type { KillPhase } from './launch-phase.js';
import type { LaunchWindow } from './torture-round.js';

/** Loss figures of a torture run: one sample per kill of persistd (app-only kills must lose nothing and are checked apart). */
export interface LossReport {
  /** Age at the kill of the oldest lost committed transaction (0: none lost), by where the kill fell. */
  lossMs: Record<KillPhase, number[]>;
  /** One per round whose app started: when its launch's first snapshot was stored and its pointer taken. */
  windows: LaunchWindow[];
}

/** An empty report. */
export function emptyLossReport(): LossReport {
  return { lossMs: { before: [], unclaimed: [], after: [] }, windows: [] };
}

/** Nearest-rank percentile (`p` in 0..100) of the samples; undefined for none. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The report as summary lines. */
export function formatLossReport(report: LossReport, maxLossMs: number | undefined): string[] {
  const { lossMs, windows } = report;
  const bound = maxLossMs === undefined ? 'bound off' : `bound ${maxLossMs} ms`;
  const lines = [
    `loss, persistd killed after the launch's first snapshot (${bound}): ${stats(lossMs.after)}`,
    `loss, persistd killed before the launch's first snapshot (${bound}): ${stats(lossMs.before)}`,
  ];
  if (lossMs.unclaimed.length > 0)
    lines.push(
      `loss, persistd killed after the first snapshot but before the lineage pointer named it (${bound}): ${stats(lossMs.unclaimed)}`,
    );
  const snapshot = windows.flatMap((w) => (w.snapshotMs === undefined ? [] : [w.snapshotMs]));
  const pointer = windows.flatMap((w) => (w.pointerMs === undefined ? [] : [w.pointerMs]));
  // Commits exposed to the window: those after the app started; a pointer taken before that exposes none.
  const exposed = windows.flatMap((w) => (w.pointerMs === undefined ? [] : [Math.max(0, w.pointerMs - w.appStartMs)]));
  const early = windows.filter((w) => w.pointerMs !== undefined && w.pointerMs <= w.appStartMs).length;
  const cut = windows
    .filter((w) => w.pointerMs === undefined)
    .map((w) => w.killMs)
    .sort((a, b) => a - b);
  lines.push(
    `first-snapshot window, launch -> first snapshot stored: ${spread(snapshot)}`,
    `  launch -> lineage pointer taken: ${spread(pointer)}`,
    `  app start -> pointer taken (0 when before the app started, ${early} launches): ${spread(exposed)}`,
  );
  if (cut.length > 0) lines.push(`  no pointer logged before the kill: ${cut.length} launches, killed ${cut.join(', ')} ms after launch`);
  return lines;
}

function stats(samples: readonly number[]): string {
  if (samples.length === 0) return 'no kills';
  const lost = samples.filter((ms) => ms > 0).length;
  return `${samples.length} kills (${lost} lost something), worst ${Math.max(...samples)} ms, p99 ${percentile(samples, 99)} ms, p50 ${percentile(samples, 50)} ms`;
}

function spread(samples: readonly number[]): string {
  if (samples.length === 0) return 'none';
  return `${samples.length} launches, p50 ${percentile(samples, 50)} ms, p99 ${percentile(samples, 99)} ms, max ${Math.max(...samples)} ms`;
}
