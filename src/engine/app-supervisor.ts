import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { constants } from 'node:os';
import { PersistdError } from '../errors.js';
import { releaseSpawnedPid, trackSpawnedPid } from './spawned-pids.js';
import { EXIT_CODES } from '../exit-codes.js';

/** How the app ended: its exit code, or the signal that killed it, and the code persistd should exit with. */
export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The app's code, or 128 + signal number when it died of a signal (as a shell reports it). */
  exitCode: number;
}

/** What the supervisor needs to start the app; `spawn` is injectable for tests. */
export interface AppSupervisorOptions {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
}

/** Runs the app as a child with inherited stdio, forwards signals to it, and stops it with a deadline. */
export class AppSupervisor {
  readonly exited: Promise<AppExit>;
  private readonly child: ChildProcess;
  private exitInfo: AppExit | undefined;

  private constructor(child: ChildProcess, exited: Promise<AppExit>) {
    this.child = child;
    this.exited = exited.then((exit) => (this.exitInfo = exit));
  }

  /** Spawns the app; rejects with exit-127-style error when the command does not exist or cannot be executed. */
  static async start(options: AppSupervisorOptions): Promise<AppSupervisor> {
    const spawn = options.spawn ?? nodeSpawn;
    const child = spawn(options.command, options.args, { cwd: options.cwd, env: options.env, stdio: 'inherit' });
    // Registered before any timer can run, so the zombie reaper never takes the exit status libuv waits for.
    const pid = child.pid;
    if (pid !== undefined) trackSpawnedPid(pid);
    const exited = new Promise<AppExit>((resolve) => {
      child.once('exit', (code, signal) => {
        if (pid !== undefined) releaseSpawnedPid(pid);
        resolve({ code, signal, exitCode: code ?? 128 + signalNumber(signal) });
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err: NodeJS.ErrnoException) => reject(spawnError(options.command, err)));
    });
    return new AppSupervisor(child, exited);
  }

  /** The app's pid. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True once the app has exited. */
  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** Sends a signal to the app if it is still running. */
  forward(signal: NodeJS.Signals): void {
    if (this.exitInfo === undefined) this.child.kill(signal);
  }

  /** Sends `signal`, waits up to `timeoutMs` for the app to exit, then SIGKILLs it; resolves with how it ended. */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<AppExit> {
    this.forward(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return first;
    this.forward('SIGKILL');
    return this.exited;
  }
}

/** The number of a signal (SIGTERM → 15), 0 when unknown. */
export function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0;
}

function spawnError(command: string, err: NodeJS.ErrnoException): PersistdError {
  const notFound = err.code === 'ENOENT';
  return new AppSpawnError(
    notFound ? `cannot start the app: command not found: ${command}` : `cannot start the app "${command}": ${err.code ?? err.message}`,
    notFound ? EXIT_CODES.appNotFound : EXIT_CODES.appNotExecutable,
    notFound ? 'check the command after -- (is it installed and on PATH in this image?)' : 'check that the command is executable',
    err,
  );
}

/** The app could not be started; exits with the shell's code (127 not found, 126 not executable). */
export class AppSpawnError extends PersistdError {
  constructor(message: string, exitCode: number, hint: string, cause: unknown) {
    super(message, { kind: 'usage', op: 'start app', hint, cause, exitCode });
    this.name = 'AppSpawnError';
  }
}
