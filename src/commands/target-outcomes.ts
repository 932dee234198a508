import { EXIT_CODES, exitCodeFor } from '../exit-codes.js';
import { formatError } from './format-error.js';
import { messageOf } from '../errors.js';
import { println, type CommandContext } from './command-context.js';

/** What a target is: a database, a directory or a loose file. */
export type TargetKind = 'db' | 'dir' | 'file';

/** One unit of work of a multi-target command: a database, a directory or a loose file, with what it reports (`D`). */
export interface TargetTask<K extends TargetKind = TargetKind, D = Record<string, unknown>> {
  kind: K;
  name: string;
  run: () => Promise<{ summary: string; details?: D }>;
}

/** How one target fared; `details` is what its task reported, when it succeeded. */
export interface TargetOutcome<K extends TargetKind = TargetKind, D = Record<string, unknown>> {
  kind: K;
  name: string;
  ok: boolean;
  summary: string;
  details?: D;
  error?: unknown;
}

/** The outcome type of a task type (distributes over a union of tasks, so outcomes narrow by `kind`). */
export type OutcomeOf<T> = T extends TargetTask<infer K, infer D> ? TargetOutcome<K, D> : never;

/** Runs the tasks (databases first, then directories and files, each group in parallel) and collects every outcome. */
export async function runTargetTasks<T extends TargetTask<TargetKind, unknown>>(tasks: readonly T[]): Promise<OutcomeOf<T>[]> {
  const run = async (task: T): Promise<OutcomeOf<T>> => {
    try {
      const { summary, details } = await task.run();
      return { kind: task.kind, name: task.name, ok: true, summary, ...(details ? { details } : {}) } as OutcomeOf<T>;
    } catch (error) {
      return { kind: task.kind, name: task.name, ok: false, summary: messageOf(error), error } as OutcomeOf<T>;
    }
  };
  const databases = await Promise.all(tasks.filter((task) => task.kind === 'db').map(run));
  const others = await Promise.all(tasks.filter((task) => task.kind !== 'db').map(run));
  return [...databases, ...others];
}

/** Prints the outcomes, as a table for people or as JSON, with each failure's hint. */
export function printOutcomes(ctx: CommandContext, outcomes: readonly TargetOutcome<TargetKind, unknown>[], json: boolean): void {
  if (json) {
    println(
      ctx,
      JSON.stringify(
        outcomes.map(({ error, ...rest }) => ({ ...rest, ...(error ? { error: formatError(error) } : {}) })),
        null,
        2,
      ),
    );
    return;
  }
  const width = Math.max(0, ...outcomes.map((outcome) => outcome.name.length));
  for (const outcome of outcomes) {
    println(ctx, `${outcome.ok ? 'ok    ' : 'FAILED'} ${outcome.kind.padEnd(4)} ${outcome.name.padEnd(width)}  ${outcome.summary}`);
    if (!outcome.ok) ctx.stderr.write(`${formatError(outcome.error)}\n`);
  }
}

/** Exit code of a multi-target command: 0 all ok; 3 (partial) when `partialAllowed` and some succeeded; else the first failure's code. */
export function exitCodeForOutcomes(outcomes: readonly TargetOutcome<TargetKind, unknown>[], partialAllowed: boolean): number {
  const failed = outcomes.filter((outcome) => !outcome.ok);
  if (failed.length === 0) return EXIT_CODES.ok;
  if (partialAllowed && failed.length < outcomes.length) return EXIT_CODES.partial;
  return exitCodeFor(failed[0]?.error);
}
