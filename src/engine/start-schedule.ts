import cron from 'node-cron';
import type { Logger } from 'pino';
import type { Schedule } from '../config/schedule.js';
import { messageOf } from '../errors.js';

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
export function startSchedule(
  schedule: Schedule,
  task: () => Promise<unknown>,
  options: { logger?: Logger; name?: string } = {},
): ScheduledJob {
  let stopped = false;
  let running: Promise<void> | undefined;
  const runOnce = (): Promise<void> => {
    if (running || stopped) return running ?? Promise.resolve();
    running = task()
      .then(
        () => undefined,
        (err: unknown) => {
          options.logger?.error({ job: options.name, err: messageOf(err) }, 'scheduled run failed');
        },
      )
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
