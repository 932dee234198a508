import cron from 'node-cron';
import type { Logger } from 'pino';
import { usageError } from '../errors.js';
import { parseDuration } from '../config/duration.js';

/** When something runs: every `ms` after the previous run finished, or at the times of a cron expression. */
export type Schedule = { kind: 'interval'; ms: number; text: string } | { kind: 'cron'; expression: string; text: string };

/** Parses `30s`, `5m`, `1h` (a duration, at least 1 s) or a cron expression (`0 2 * * *`, 5 or 6 fields). Throws a usage error otherwise. */
export function parseSchedule(text: string): Schedule {
  const trimmed = text.trim();
  const ms = parseDuration(trimmed);
  if (ms !== undefined) {
    if (ms < 1000) throw usageError(`schedule "${text}" is shorter than 1s`, 'use a duration of at least 1s (e.g. 5m) or a cron expression');
    return { kind: 'interval', ms, text: trimmed };
  }
  const fields = trimmed.split(/\s+/).length;
  if ((fields === 5 || fields === 6) && cron.validate(trimmed)) return { kind: 'cron', expression: trimmed, text: trimmed };
  throw usageError(`"${text}" is neither a duration nor a cron expression`,
    'use a duration like 30s, 5m, 1h, or a cron expression like "0 2 * * *" (minute hour day month weekday)');
}

/** A running schedule. */
export interface ScheduledJob {
  /** Stops future runs (a run in progress finishes on its own; await `idle()` for it). */
  stop(): void;
  /** Resolves when no run is in progress. */
  idle(): Promise<void>;
}

/**
 * Runs `task` on `schedule` until stopped, never two runs at once: an interval counts from the end
 * of the previous run; a cron time that comes while a run is in progress is skipped. A failing run
 * is logged and the schedule goes on (the task is expected to record its own error state).
 */
export function startSchedule(schedule: Schedule, task: () => Promise<unknown>, options: { logger?: Logger; name?: string } = {}): ScheduledJob {
  let stopped = false;
  let running: Promise<void> | undefined;
  const runOnce = (): Promise<void> => {
    if (running || stopped) return running ?? Promise.resolve();
    running = task()
      .then(() => undefined, (err: unknown) => {
        options.logger?.error({ job: options.name, err: err instanceof Error ? err.message : String(err) }, 'scheduled run failed');
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  if (schedule.kind === 'interval') {
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (stopped) return;
      timer = setTimeout(() => void runOnce().then(arm), schedule.ms);
    };
    arm();
    return {
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
      },
      idle: () => running ?? Promise.resolve(),
    };
  }
  const job = cron.schedule(schedule.expression, () => void runOnce(), { name: options.name, noOverlap: true });
  return {
    stop: () => {
      stopped = true;
      void job.stop();
      void job.destroy();
    },
    idle: () => running ?? Promise.resolve(),
  };
}
