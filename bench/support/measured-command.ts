/** Runs a command as a child process and measures its wall time and peak RSS (GNU time's `%M`: the largest process of the tree). */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';

/** How a measured command ended. */
export interface MeasuredRun {
  code: number | null;
  ms: number;
  /** Peak resident set size in MiB; undefined when /usr/bin/time is not installed. */
  peakRssMiB: number | undefined;
  stdout: string;
  stderr: string;
}

/** Runs `command args` (through /usr/bin/time when installed) and resolves when it exits; rejects when it fails and `check` is not false. */
export async function runMeasured(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; check?: boolean; onSpawn?: (pid: number) => void } = {},
): Promise<MeasuredRun> {
  const timed = existsSync(GNU_TIME);
  const rssFile = join(tmpdir(), `persistd-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const argv = timed ? ['-f', '%M', '-o', rssFile, command, ...args] : [...args];
  const started = performance.now();
  const child = spawn(timed ? GNU_TIME : command, argv, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  const ms = performance.now() - started;
  let peakRssMiB: number | undefined;
  if (timed) {
    const text = await readFile(rssFile, 'utf8').catch(() => '');
    const kib = Number(/(\d+)\s*$/.exec(text.trim())?.[1]);
    peakRssMiB = Number.isFinite(kib) ? kib / 1024 : undefined;
    await rm(rssFile, { force: true });
  }
  if (code !== 0 && options.check !== false) {
    throw new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-5).join('\n')}`);
  }
  return { code, ms, peakRssMiB, stdout, stderr };
}
