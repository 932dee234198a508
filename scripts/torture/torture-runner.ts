import { rmSync } from 'node:fs';
import { emptyLossReport, formatLossReport, type LossReport } from './loss-report.js';
import { Prng } from './prng.js';
import { parseInterval, runRound, type KillKind, type Lineage, type RoundResult, type RoundSettings } from './torture-round.js';
import { makeSandbox, type TortureStore } from './torture-sandbox.js';

/**
 * What the default loss bound allows beyond one sync interval (ms): reading, compressing and storing
 * the segment, and a sync started late on a busy 2-core machine (see README, "Development").
 */
export const LOSS_MARGIN_MS = 2000;

/** The loss bound applied when none is given: one sync interval plus LOSS_MARGIN_MS (3000 ms at the default 1 s). */
export function defaultMaxLossMs(syncInterval: string): number {
  return parseInterval(syncInterval) + LOSS_MARGIN_MS;
}

/** Options of a crash torture run. */
export interface TortureOptions extends Omit<Partial<RoundSettings>, 'maxLossMs'> {
  /** The loss bound in ms (defaultMaxLossMs when undefined; 0 turns it off: losses are only reported). */
  maxLossMs?: number;
  rounds: number;
  seed: number;
  store: TortureStore;
  /** Keep the directories of failed rounds (journals, logs, replica, restored data). */
  keepFailures: boolean;
  /** Rounds before a lineage (one replica) is replaced by a fresh one, to keep databases small. */
  roundsPerLineage?: number;
  /** Encrypt the replicas with age (a new identity per lineage, given to every persistd as recipient and identity). */
  age?: boolean;
  log?: (line: string) => void;
}

/** A round whose restore was not consistent, with what is needed to look at it again. */
export interface TortureFailure {
  round: number;
  seed: number;
  dir: string | undefined;
  kill: KillKind;
  problems: string[];
}

/** What a torture run did. */
export interface TortureSummary {
  rounds: number;
  kills: Record<KillKind | 'restore', number>;
  transactions: number;
  /** The loss bound applied (undefined: off). */
  maxLossMs: number | undefined;
  /** Losses by where the kill fell relative to the launch's first snapshot, and the launches' first-snapshot windows. */
  loss: LossReport;
  failures: TortureFailure[];
}

/**
 * Runs `rounds` crash rounds (see runRound) against the built CLI, on lineages of
 * `roundsPerLineage` rounds; a failed round ends its lineage (kept with `keepFailures`).
 */
export async function runTorture(options: TortureOptions): Promise<TortureSummary> {
  const log = options.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const syncInterval = options.syncInterval ?? '1s';
  const bound = options.maxLossMs ?? defaultMaxLossMs(syncInterval);
  const settings: RoundSettings = {
    snapshotInterval: options.snapshotInterval ?? '1s',
    syncInterval,
    maxLossMs: bound > 0 ? bound : undefined,
  };
  const perLineage = options.roundsPerLineage ?? 20;
  const rng = new Prng(options.seed);
  const summary: TortureSummary = {
    rounds: 0,
    kills: { app: 0, persistd: 0, both: 0, snapshot: 0, restore: 0 },
    transactions: 0,
    maxLossMs: settings.maxLossMs,
    loss: emptyLossReport(),
    failures: [],
  };
  let lineage: Lineage | undefined;
  const retire = (keep: boolean): void => {
    if (lineage && !keep) rmSync(lineage.sandbox.dir, { recursive: true, force: true });
    lineage = undefined;
  };
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const roundRng = rng.fork();
      lineage ??= {
        sandbox: makeSandbox(options.store, options.store.kind, options.age === true),
        launches: new Map(),
        nextLaunch: 1,
        k: 0,
        localPresent: false,
      };
      const result = await runRound(lineage, roundRng, settings, log);
      summary.rounds++;
      summary.kills[result.kill]++;
      if (result.restoreKill) summary.kills.restore++;
      summary.transactions += result.committed;
      if (result.phase !== undefined && result.kill !== 'app') summary.loss.lossMs[result.phase].push(result.lossMs);
      if (result.window !== undefined) summary.loss.windows.push(result.window);
      const failed = result.problems.length > 0;
      log(
        `round ${round}: kill ${result.kill}${result.restoreKill ? ' (and once during restore)' : ''} after ${result.ranMs} ms, ${result.committed} committed, ` +
          `restored ${result.restoredRows} rows and ${result.restoredFiles} files, loss window ${result.lossMs} ms${phaseNote(result)}: ${failed ? 'FAILED' : 'ok'}`,
      );
      if (failed) {
        for (const problem of result.problems) log(`  ${problem}`);
        summary.failures.push({
          round,
          seed: options.seed,
          dir: options.keepFailures ? lineage.sandbox.dir : undefined,
          kill: result.kill,
          problems: result.problems,
        });
        retire(options.keepFailures);
      } else if (round % perLineage === 0) {
        retire(false);
      }
    }
  } finally {
    retire(false);
  }
  return summary;
}

/** The summary as printed lines. */
export function formatSummary(summary: TortureSummary, replay: string): string[] {
  const kills = Object.entries(summary.kills)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  const lines = [
    `rounds: ${summary.rounds}`,
    `kills: ${kills}`,
    `transactions committed: ${summary.transactions}`,
    ...formatLossReport(summary.loss, summary.maxLossMs),
    `failures: ${summary.failures.length}`,
  ];
  for (const f of summary.failures) {
    lines.push(`- round ${f.round} (kill ${f.kill}): ${f.problems.join('; ')}${f.dir ? ` [kept in ${f.dir}]` : ''}`);
    lines.push(`  replay: ${replay} --rounds ${f.round} --keep-failures`);
  }
  return lines;
}

function phaseNote(result: RoundResult): string {
  const w = result.window;
  if (result.phase === undefined || w === undefined) return '';
  const times = `app started ${w.appStartMs} ms, killed ${w.killMs} ms after launch`;
  if (result.phase === 'before') return ` (before the launch's first snapshot; ${times})`;
  const pointer = result.phase === 'unclaimed' ? ', before its lineage pointer' : '';
  return ` (after the launch's first snapshot at ${w.snapshotMs ?? '?'} ms${pointer}; ${times})`;
}
