import { spawn, type ChildProcess } from 'node:child_process';
import { PERSISTD_BIN } from '../../test/support/run-persistd.js';

/** A `persistd run` started as the leader of its own process group (the "container": persistd and the app it starts). */
export interface ContainerProcess {
  child: ChildProcess;
  /** Resolves with persistd's exit code (or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything persistd logged (JSON lines on stderr). */
  logs(): string;
  /** The log lines parsed, for looking up events. */
  events(): Array<Record<string, unknown>>;
  /** SIGKILLs persistd only. */
  killPersistd(): void;
  /** SIGKILLs every process of the container (persistd and the app). */
  killAll(): void;
}

/** Starts `persistd run <args> -- <app...>` in a new process group with a clean environment (plus `env`). */
export function startContainer(args: readonly string[], app: readonly string[], env: NodeJS.ProcessEnv): ContainerProcess {
  const child = spawn(process.execPath, [PERSISTD_BIN, 'run', ...args, '--', ...app], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let logs = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
    child.on('error', () => resolve({ code: null, signal: null }));
  });
  const signalGroup = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  };
  return {
    child,
    exited,
    logs: () => logs,
    events: () =>
      logs.split('\n').flatMap((line) => {
        if (!line.startsWith('{')) return [];
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    killPersistd: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    killAll: signalGroup,
  };
}
