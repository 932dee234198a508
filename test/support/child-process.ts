import { spawn, type ChildProcessWithoutNullStreams, type SpawnOptions } from 'node:child_process';
import { pollUntil } from './poll.js';

/** How a process ended and everything it printed. */
export interface CapturedResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running process whose stdout and stderr are collected as text. */
export interface CapturedProcess {
  child: ChildProcessWithoutNullStreams;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has exited and its output is closed. */
  exited: Promise<CapturedResult>;
  /** Polls `check` (see pollUntil); a timeout error carries the output so far. */
  until(what: string, check: () => boolean | Promise<boolean>, timeoutMs?: number): Promise<void>;
}

/**
 * Options of spawnCaptured: node's spawn options, the bytes for stdin (`keepStdinOpen`: stdin stays open for
 * the caller to write to), and a SIGKILL after `killAfterMs`.
 */
export type CaptureOptions = Omit<SpawnOptions, 'stdio'> & { input?: string; keepStdinOpen?: boolean; killAfterMs?: number };

/**
 * The one process helper of the tests: spawns `command args` with piped stdio, collects stdout and
 * stderr, closes stdin (after writing `input`) unless asked to keep it open, and SIGKILLs the process after `killAfterMs` if given.
 */
export function spawnCaptured(command: string, args: readonly string[], options: CaptureOptions = {}): CapturedProcess {
  const { input, keepStdinOpen = false, killAfterMs, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.on('error', () => undefined); // a process that exits without reading its stdin
  if (keepStdinOpen) {
    if (input !== undefined) child.stdin.write(input);
  } else child.stdin.end(input);
  const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const exited = new Promise<CapturedResult>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  exited.catch(() => undefined); // awaited by whoever cares; an unawaited spawn error must not crash the run
  const output = (): string => `stdout: ${stdout}; stderr: ${stderr}`;
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    until: async (what, check, timeoutMs = 20_000) => {
      await pollUntil(what, check, { timeoutMs, detail: output });
    },
  };
}

/** Runs `command args` to its end (SIGKILL after `killAfterMs`, default 60 s) and returns its exit and output. */
export function runCaptured(command: string, args: readonly string[], options: CaptureOptions = {}): Promise<CapturedResult> {
  return spawnCaptured(command, args, { killAfterMs: 60_000, ...options }).exited;
}
