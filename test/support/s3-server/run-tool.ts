import { execFile } from 'node:child_process';

/** Options of runTool. */
export interface RunToolOptions {
  timeoutMs: number;
  cwd?: string;
  /** Words to name the call in an error instead of the full argument list (which may hold secrets). */
  label?: string;
}

/**
 * Runs a Ceph command-line tool to completion and returns its stdout.
 * Errors name the tool and its stderr, never the arguments: some carry keys.
 */
export async function runTool(command: string, args: readonly string[], options: RunToolOptions): Promise<string> {
  const label = options.label ?? command;
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve(stdout);
          return;
        }
        const code = (err as { code?: unknown }).code;
        const why = err.killed ? `timed out after ${options.timeoutMs} ms` : `exit code ${String(code)}`;
        // stderr only: stdout of some tools (radosgw-admin user create) holds secrets.
        const tail = stderr.trim().split('\n').slice(-8).join('\n');
        reject(new Error(`${label} failed (${why})${tail === '' ? '' : `:\n${tail}`}`));
      },
    );
  });
}
