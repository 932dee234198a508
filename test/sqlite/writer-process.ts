import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WRITER = fileURLToPath(new URL('./writer.py', import.meta.url));

/** A python3 process committing numbered rows into a database (see writer.py). */
export interface WriterProcess {
  child: ChildProcess;
  /** Resolves once the writer has set the journal mode and created its tables. */
  ready: Promise<void>;
  /** Stops the writer (SIGTERM) and resolves with the last row it committed. */
  stop(): Promise<number>;
  /** Resolves with the last committed row when the writer exits on its own (max rows reached). */
  done: Promise<number>;
}

/** Starts writer.py on `path` in `journalMode`; `maxRows` 0 means until stopped. */
export function startWriter(path: string, journalMode: string, options: { maxRows?: number; padBytes?: number } = {}): WriterProcess {
  const child = spawn('python3', [WRITER, path, journalMode, String(options.maxRows ?? 0), String(options.padBytes ?? 200)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.startsWith('ready\n')) markReady();
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = Number(out.trim().split('\n').at(-1));
      if (code !== 0 || !Number.isInteger(last)) reject(new Error(`writer exited with ${code}: ${out}`));
      else resolve(last);
    });
  });
  return {
    child,
    ready: Promise.race([ready, done.then(() => undefined)]),
    done,
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return done;
    },
  };
}
