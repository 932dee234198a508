import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnCaptured } from '../support/child-process.js';
import { PERSISTD_BIN } from '../support/run-persistd.js';

/** A `persistd run` started as a real process, with its output collected as it comes. */
export interface PersistdProcess {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the exit code once the process has exited and its output is complete. */
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** Waits until `what` holds, failing with both outputs after `timeoutMs`. */
  until(what: () => boolean, label: string, timeoutMs?: number): Promise<void>;
}

/** Starts `persistd <args>` with a clean environment plus `env`. */
export function startPersistd(args: readonly string[], env: NodeJS.ProcessEnv): PersistdProcess {
  const run = spawnCaptured(process.execPath, [PERSISTD_BIN, ...args], { env: { PATH: process.env.PATH, ...env } });
  return {
    child: run.child,
    exited: run.exited.then(({ code }) => code),
    stdout: run.stdout,
    stderr: run.stderr,
    until: (what, label, timeoutMs) => run.until(label, what, timeoutMs),
  };
}

/** persistd's JSON log lines (stderr), parsed; other lines are skipped. */
export function logLines(stderr: string): Array<Record<string, unknown> & { msg?: string; level?: number }> {
  return stderr.split('\n').flatMap((line) => {
    try {
      const parsed: unknown = JSON.parse(line);
      return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

/** The phase `persistd run` reports in `<stateDir>/status.json` (`restoring`, `running`, ...), undefined before it is written. */
export function runPhase(stateDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(stateDir, 'status.json'), 'utf8')) as { phase?: string }).phase;
  } catch {
    return undefined;
  }
}
