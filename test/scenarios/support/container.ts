import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { spawnCaptured, type CapturedProcess } from '../../support/child-process.js';
import { PERSISTD_BIN } from '../../support/run-persistd.js';
import type { ScenarioReplica } from './replicas.js';
import { pollUntil } from '../../support/poll.js';

/** How a scenario's "container" is built and what persistd protects in it. */
export interface ContainerOptions {
  /** The container's working directory; deleted whole when the container is lost. */
  root: string;
  /** Folders the image ships (they exist in every fresh container), relative to root. */
  imageDirs: readonly string[];
  replica: ScenarioReplica;
  /** persistd target flags relative to root, e.g. `['--db', 'instance/users.db', '--dir', 'uploads']`. */
  targets: readonly string[];
  /** More persistd flags (schedules, timeouts). */
  flags?: readonly string[];
  /** Environment for persistd and the app (besides PATH and the replica's credentials). */
  env?: Readonly<Record<string, string>>;
}

/** How a process tree ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** An ephemeral container: a working directory with the app's data and persistd's state dir (`./.persistd`), lost at will. */
export class Container {
  constructor(readonly options: ContainerOptions) {
    this.provision();
  }

  /** Absolute path of something inside the container. */
  path(...parts: string[]): string {
    return path.join(this.options.root, ...parts);
  }

  /** Deploys: `persistd run <replica> <targets> -- <app...>` with the container as working directory. */
  deploy(app: readonly string[], extraFlags: readonly string[] = []): Deployment {
    const { replica, targets, flags = [], env = {} } = this.options;
    const args = [PERSISTD_BIN, 'run', ...replica.args, ...targets, ...flags, ...extraFlags, '--', ...app];
    const persistd = spawnCaptured(process.execPath, args, {
      cwd: this.options.root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PERSISTD_LOG_LEVEL: 'info', ...replica.env, ...env },
      keepStdinOpen: true,
    });
    return new Deployment(persistd);
  }

  /** Loses the container: its whole working directory goes (data, uploads, persistd's state), and a fresh one from the image replaces it. */
  lose(): void {
    rmSync(this.options.root, { recursive: true, force: true });
    this.provision();
  }

  private provision(): void {
    mkdirSync(this.options.root, { recursive: true });
    for (const dir of this.options.imageDirs) mkdirSync(this.path(dir), { recursive: true });
  }
}

/**
 * One running `persistd run` and its app. Apps of the scenarios speak a line protocol on the stdin they
 * inherit from persistd: the test sends `<n> <command>`, the app answers `<n> ok <result>` (or
 * `<n> err <message>`); at start it prints `ready <pid> ...`.
 */
export class Deployment {
  readonly exited: Promise<Exit>;
  private nextRequest = 1;
  private exit: Exit | undefined;

  constructor(private readonly process: CapturedProcess) {
    this.exited = process.exited.then(({ code, signal }) => (this.exit = { code, signal }));
    this.exited.catch(() => undefined); // a spawn error reaches whoever awaits it, not the run as unhandled
  }

  /** What persistd (stderr) and the app (stdout) printed so far. */
  get output(): { stdout: string; stderr: string } {
    return { stdout: this.process.stdout(), stderr: this.process.stderr() };
  }

  /** Lines the app printed so far. */
  get lines(): string[] {
    return this.process
      .stdout()
      .split('\n')
      .filter((line) => line !== '');
  }

  /** Waits for an app output line matching `pattern` and returns its match. */
  async waitForLine(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const found = await this.until(
      () => {
        for (const line of this.lines) {
          const match = pattern.exec(line);
          if (match) return match;
        }
        return undefined;
      },
      timeoutMs,
      `a line matching ${pattern}`,
    );
    return found;
  }

  /** Waits until the app printed `ready <pid> ...`; returns the rest of that line. */
  async ready(timeoutMs = 30_000): Promise<{ appPid: number; rest: string }> {
    const match = await this.waitForLine(/^ready (\d+)(.*)$/, timeoutMs);
    return { appPid: Number(match[1]), rest: (match[2] ?? '').trim() };
  }

  /** Sends one command to the app and returns its answer (the text after `ok`). */
  async request(command: string, timeoutMs = 30_000): Promise<string> {
    const n = this.nextRequest++;
    this.process.child.stdin.write(`${n} ${command}\n`);
    const match = await this.waitForLine(new RegExp(`^${n} (ok|err)(?: (.*))?$`), timeoutMs);
    if (match[1] === 'err') throw new Error(`app refused "${command}": ${match[2] ?? ''}`);
    return match[2] ?? '';
  }

  /** A clean stop, as a platform does it: SIGTERM to persistd; resolves with how it exited. */
  async stop(): Promise<Exit> {
    this.process.child.kill('SIGTERM');
    return this.exited;
  }

  /** A crash: SIGKILL to persistd and to the app at once (nothing runs a handler or a final backup). */
  async crash(appPid: number): Promise<Exit> {
    this.process.child.kill('SIGKILL');
    try {
      process.kill(appPid, 'SIGKILL');
    } catch {
      // already gone
    }
    return this.exited;
  }

  /** Waits until `check` returns a value (re-checked every 20 ms); fails at once if persistd exits first. */
  async until<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
    const printed = (): string => `\nstdout:\n${this.process.stdout()}\nstderr:\n${this.process.stderr()}`;
    const found = await pollUntil(
      what,
      async () => {
        const exit = this.exit; // read before the check: output that came before the exit is judged first
        const value = await check();
        if (value === undefined && exit !== undefined)
          throw new Error(`persistd exited (${JSON.stringify(exit)}) while waiting for ${what}${printed()}`);
        return value;
      },
      { timeoutMs, detail: printed },
    );
    return found as T;
  }
}

/** Polls `check` until it returns a value or `timeoutMs` passes (for conditions outside any process's output). */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  return (await pollUntil(what, check, { timeoutMs, intervalMs: 50 })) as T;
}
