import { rmSync } from 'node:fs';
import { Prng } from './prng.js';
import { runRound, type KillKind, type Lineage, type RoundSettings } from './torture-round.js';
import { makeSandbox, type TortureStore } from './torture-sandbox.js';

/** Options of a crash torture run. */
export interface TortureOptions extends Partial<RoundSettings> {
  rounds: number;
  seed: number;
  store: TortureStore;
  /** Keep the directories of failed rounds (journals, logs, replica, restored data). */
  keepFailures: boolean;
  /** Rounds before a lineage (one replica) is replaced by a fresh one, to keep databases small. */
  roundsPerLineage?: number;
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
  /** Largest age, at the kill of persistd, of a committed transaction that a restore lacked. */
  worstLossMs: number;
  failures: TortureFailure[];
}

/**
 * Runs `rounds` crash rounds (see runRound) against the built CLI, on lineages of
 * `roundsPerLineage` rounds; a failed round ends its lineage (kept with `keepFailures`).
 */
export async function runTorture(options: TortureOptions): Promise<TortureSummary> {
  const log = options.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const settings: RoundSettings = {
    snapshotInterval: options.snapshotInterval ?? '1s', syncInterval: options.syncInterval ?? '1s', maxLossMs: options.maxLossMs,
  };
  const perLineage = options.roundsPerLineage ?? 20;
  const rng = new Prng(options.seed);
  const summary: TortureSummary = { rounds: 0, kills: { app: 0, persistd: 0, both: 0, snapshot: 0, restore: 0 }, transactions: 0, worstLossMs: 0, failures: [] };
  let lineage: Lineage | undefined;
  const retire = (keep: boolean): void => {
    if (lineage && !keep) rmSync(lineage.sandbox.dir, { recursive: true, force: true });
    lineage = undefined;
  };
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const roundRng = rng.fork();
      lineage ??= { sandbox: makeSandbox(options.store, options.store.kind), launches: new Map(), nextLaunch: 1, k: 0, localPresent: false };
      const result = await runRound(lineage, roundRng, settings, log);
      summary.rounds++;
      summary.kills[result.kill]++;
      if (result.restoreKill) summary.kills.restore++;
      summary.transactions += result.committed;
      summary.worstLossMs = Math.max(summary.worstLossMs, result.lossMs);
      const failed = result.problems.length > 0;
      log(`round ${round}: kill ${result.kill}${result.restoreKill ? ' (and once during restore)' : ''} after ${result.ranMs} ms, ${result.committed} committed, `
        + `restored ${result.restoredRows} rows and ${result.restoredFiles} files, loss window ${result.lossMs} ms: ${failed ? 'FAILED' : 'ok'}`);
      if (failed) {
        for (const problem of result.problems) log(`  ${problem}`);
        summary.failures.push({ round, seed: options.seed, dir: options.keepFailures ? lineage.sandbox.dir : undefined, kill: result.kill, problems: result.problems });
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
  const kills = Object.entries(summary.kills).map(([kind, n]) => `${kind} ${n}`).join(', ');
  const lines = [
    `rounds: ${summary.rounds}`,
    `kills: ${kills}`,
    `transactions committed: ${summary.transactions}`,
    `worst loss window: ${summary.worstLossMs} ms`,
    `failures: ${summary.failures.length}`,
  ];
  for (const f of summary.failures) {
    lines.push(`- round ${f.round} (kill ${f.kill}): ${f.problems.join('; ')}${f.dir ? ` [kept in ${f.dir}]` : ''}`);
    lines.push(`  replay: ${replay} --rounds ${f.round} --keep-failures`);
  }
  return lines;
}
