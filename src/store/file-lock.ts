import { open, rename, stat, unlink, link } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

/** Options of a FileLock. */
export interface FileLockOptions {
  /** A lock file older than this is left over from a crashed holder and is broken (default 10 s; commits take milliseconds). */
  staleMs?: number;
  /** Longest wait for the lock before giving up (default 30 s). */
  timeoutMs?: number;
}

/** How many queued sections one acquisition of the file may serve, so another process gets a turn. */
const MAX_SECTIONS_PER_HOLD = 64;

interface Section {
  /** Runs the caller's function and settles its promise; never rejects. */
  run: () => Promise<void>;
  fail: (err: unknown) => void;
}

/**
 * A cross-process mutex on one lock file, created with O_EXCL (`wx`), which is atomic on local file
 * systems and on NFSv3+ (so link()-based locking is not needed). Callers in this process queue in
 * memory; whoever holds the file runs up to 64 queued sections before releasing it, so a burst of
 * commits costs one lock file, not one each. A holder that crashed leaves the file behind: after
 * `staleMs` it is broken by renaming it aside (only one breaker can win that rename) and, if what
 * was renamed turns out to be someone's fresh lock, linking it back.
 */
export class FileLock {
  private readonly waiting: Section[] = [];
  private draining = false;
  private readonly staleMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly path: string,
    options: FileLockOptions = {},
  ) {
    this.staleMs = options.staleMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Runs `fn` while holding the lock (no other section of any process runs meanwhile). */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ run: () => fn().then(resolve, reject), fail: reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.waiting.length > 0) {
      try {
        await this.acquire();
      } catch (err) {
        // Could not get the file: fail everyone waiting now rather than let them hang.
        for (const section of this.waiting.splice(0)) section.fail(err);
        break;
      }
      try {
        for (let served = 0; served < MAX_SECTIONS_PER_HOLD && this.waiting.length > 0; served++) {
          await this.waiting.shift()!.run();
        }
      } finally {
        await unlink(this.path).catch(() => undefined);
      }
    }
    this.draining = false;
  }

  private async acquire(): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    let delayMs = 1;
    for (;;) {
      try {
        const handle = await open(this.path, 'wx');
        await handle.writeFile(`${process.pid} ${new Date().toISOString()}\n`).finally(() => handle.close());
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      await this.breakIfStale();
      if (Date.now() > deadline) {
        throw Object.assign(new Error(`timed out after ${this.timeoutMs} ms waiting for the lock ${this.path}`), { code: 'ETIMEDOUT' });
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 50);
    }
  }

  private async breakIfStale(): Promise<void> {
    const seen = await stat(this.path).catch(() => undefined);
    if (seen === undefined || Date.now() - seen.mtimeMs < this.staleMs) return;
    const aside = `${this.path}.stale-${randomBytes(6).toString('hex')}`;
    try {
      await rename(this.path, aside);
    } catch {
      return; // someone else broke or released it first
    }
    const taken = await stat(aside).catch(() => undefined);
    if (taken !== undefined && taken.ino !== seen.ino) await link(aside, this.path).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
  }
}
