import { fileURLToPath } from 'node:url';
import { runCaptured, type CapturedResult } from './child-process.js';

/** The built persistd binary, as a user runs it. */
export const PERSISTD_BIN = fileURLToPath(new URL('../../bin/persistd.js', import.meta.url));

/** What one persistd run printed and how it exited. */
export type PersistdResult = CapturedResult;

/** Runs the built persistd CLI as a real process with a clean environment (plus `env`) and collects its output. */
export function runPersistd(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<PersistdResult> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env };
  return runCaptured(process.execPath, [PERSISTD_BIN, ...args], { cwd: options.cwd, env, killAfterMs: options.timeoutMs ?? 60_000 });
}
