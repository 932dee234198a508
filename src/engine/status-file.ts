import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PersistdError, messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RunStatus } from './run-status.js';

/** Name of the status file inside the state directory. */
export const STATUS_FILE_NAME = 'status.json';

/** How often a running instance rewrites its status file. */
export const STATUS_FILE_INTERVAL_MS = 2_000;

/** `<stateDir>/status.json`. */
export function statusFilePath(stateDir: string): string {
  return path.join(stateDir, STATUS_FILE_NAME);
}

/** Options of a StatusFileWriter. */
export interface StatusFileWriterOptions {
  stateDir: string;
  /** Builds the snapshot to write (RunStatusTracker.snapshot). */
  snapshot: () => RunStatus;
  logger: Pick<Logger, 'warn' | 'debug'>;
  intervalMs?: number;
  /** Called after each write: undefined when it worked, else what failed (the state directory is then unusable). */
  onWritten?: (problem: string | undefined) => void;
}

/**
 * Keeps `<stateDir>/status.json` current for `persistd status`: rewritten every few seconds and on
 * demand (phase changes), each time whole (temp file + rename, so a reader never sees half of it).
 * No fsync: the file describes a live process and is worthless after a power loss anyway.
 */
export class StatusFileWriter {
  readonly path: string;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private warned = false;
  private stopped = false;

  constructor(private readonly options: StatusFileWriterOptions) {
    this.path = statusFilePath(options.stateDir);
  }

  /** Writes now and then every interval until `stop()`. */
  start(): void {
    void this.write();
    this.timer = setInterval(() => void this.write(), this.options.intervalMs ?? STATUS_FILE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Queues one write of the current snapshot (writes never overlap); resolves when it is done. */
  write(): Promise<void> {
    if (this.stopped) return this.chain;
    this.chain = this.chain.then(() => this.writeOnce());
    return this.chain;
  }

  /** Stops the timer and writes the last snapshot (the caller sets the phase to `stopped` first). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.write();
    this.stopped = true;
    await this.chain;
  }

  private async writeOnce(): Promise<void> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      await mkdir(path.dirname(this.path), { recursive: true });
      await writeFile(tmp, `${JSON.stringify(this.options.snapshot(), null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, this.path);
      this.warned = false;
      this.options.onWritten?.(undefined);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      this.options.onWritten?.(`the state directory ${path.dirname(this.path)} cannot be written: ${messageOf(err)}`);
      // One warning per failing streak: a read-only state dir must not flood the log every 2 s.
      if (!this.warned)
        this.options.logger.warn(
          { path: this.path, err: messageOf(err) },
          'could not write the status file; persistd status will not see this instance',
        );
      this.warned = true;
    }
  }
}

/** The status file of `stateDir`, or undefined when there is none. Throws when it cannot be read or parsed. */
export async function readStatusFile(stateDir: string): Promise<RunStatus | undefined> {
  const file = statusFilePath(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PersistdError(`cannot read ${file}: ${messageOf(err)}`, {
      op: 'read status',
      path: file,
      hint: 'run persistd status as the user persistd run runs as',
      cause: err,
    });
  }
  try {
    const parsed = JSON.parse(text) as RunStatus;
    if (parsed.format !== 1 || typeof parsed.pid !== 'number' || !Array.isArray(parsed.targets))
      throw new Error('not a persistd status file of format 1');
    return parsed;
  } catch (err) {
    throw new PersistdError(`cannot parse ${file}: ${messageOf(err)}`, {
      op: 'read status',
      path: file,
      hint: 'a newer or older persistd may have written it; it is rewritten every few seconds by a running persistd run',
    });
  }
}

/** Whether a process with this pid exists (a pid the caller may not signal still counts). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
