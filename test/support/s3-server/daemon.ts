import { spawn } from 'node:child_process';

/** How a daemon ended. */
export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A Ceph daemon running in the foreground as our child process. */
export interface Daemon {
  readonly name: string;
  readonly pid: number;
  /** Set once the process has ended. */
  readonly exit: DaemonExit | undefined;
  /** Resolves when the process has ended. */
  readonly exited: Promise<DaemonExit>;
  /** The last lines the daemon wrote to stdout/stderr. */
  outputTail(): string;
  /** SIGKILL (SIGTERM makes Ceph daemons linger for seconds) and wait until the process is gone. */
  kill(): Promise<void>;
}

const MAX_OUTPUT_CHARS = 8_000;

/** Starts `command args` with its output captured (not inherited), so a noisy daemon cannot flood the test output. */
export function spawnDaemon(name: string, command: string, args: readonly string[], cwd: string): Daemon {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exit: DaemonExit | undefined;
  const exited = new Promise<DaemonExit>((resolve) => {
    child.once('error', (err) => {
      keep(Buffer.from(`\n${err.message}\n`));
      exit ??= { code: -1, signal: null };
      resolve(exit);
    });
    child.once('exit', (code, signal) => {
      exit ??= { code, signal };
      resolve(exit);
    });
  });
  return {
    name,
    pid: child.pid ?? -1,
    get exit() {
      return exit;
    },
    exited,
    outputTail: () => output,
    async kill() {
      if (exit === undefined) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A short description of how a daemon ended, e.g. `exit code 1` or `signal SIGKILL`. */
export function describeExit(exit: DaemonExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
}
