import { createRequire } from 'node:module';
import type * as NodeCron from 'node-cron';
import { usageError } from '../errors.js';
import { parseDuration } from './duration.js';

/** When something runs: every `ms` after the previous run finished, or at the times of a cron expression. */
export type Schedule = { kind: 'interval'; ms: number; text: string } | { kind: 'cron'; expression: string; text: string };

/** Parses `30s`, `5m`, `1h` (a duration, at least 1 s) or a cron expression (`0 2 * * *`, 5 or 6 fields). Throws a usage error otherwise. */
export function parseSchedule(text: string): Schedule {
  const trimmed = text.trim();
  const ms = parseDuration(trimmed);
  if (ms !== undefined) {
    if (ms < 1000)
      throw usageError(`schedule "${text}" is shorter than 1s`, 'use a duration of at least 1s (e.g. 5m) or a cron expression');
    return { kind: 'interval', ms, text: trimmed };
  }
  const fields = trimmed.split(/\s+/).length;
  // node-cron only for what may be a cron expression: a duration, the usual schedule, starts without it.
  if ((fields === 5 || fields === 6) && (createRequire(import.meta.url)('node-cron') as typeof NodeCron).validate(trimmed))
    return { kind: 'cron', expression: trimmed, text: trimmed };
  throw usageError(
    `"${text}" is neither a duration nor a cron expression`,
    'use a duration like 30s, 5m, 1h, or a cron expression like "0 2 * * *" (minute hour day month weekday)',
  );
}
