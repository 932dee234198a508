import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { toLocalStat, type LocalStat } from './scan-tree.js';

type Seen = LocalStat | null | 'unknown' | 'error';

function same(a: Seen, b: Seen): boolean {
  if (a === 'unknown' || b === 'unknown') return false;
  if (a === null || b === null || a === 'error' || b === 'error') return a === b;
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode;
}

/**
 * Waits for a changed path to settle: it is handed on once no event arrived and its size, mtime and mode
 * stayed the same for `settleMs`. Bursts of events on one path coalesce into one hand-off.
 */
export class ChangeSettler {
  private readonly pending = new Map<string, { timer: NodeJS.Timeout; last: Seen }>();

  constructor(
    private readonly root: string,
    private readonly settleMs: number,
    private readonly onSettled: (relPath: string) => void,
  ) {}

  /** Paths still settling. */
  get size(): number {
    return this.pending.size;
  }

  /** Records an event on `relPath` and (re)starts its quiet period. */
  note(relPath: string): void {
    const entry = this.pending.get(relPath);
    if (entry) {
      clearTimeout(entry.timer);
      entry.timer = this.arm(relPath);
      return;
    }
    const fresh = { timer: this.arm(relPath), last: 'unknown' as Seen };
    this.pending.set(relPath, fresh);
    void this.statOf(relPath).then((s) => {
      if (this.pending.get(relPath) === fresh && fresh.last === 'unknown') fresh.last = s;
    });
  }

  /** Stops waiting: returns every settling path so the caller can process it now (shutdown). */
  takeAll(): string[] {
    const paths = [...this.pending.keys()];
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
    return paths;
  }

  private arm(relPath: string): NodeJS.Timeout {
    const timer = setTimeout(() => void this.check(relPath), this.settleMs);
    timer.unref();
    return timer;
  }

  private async check(relPath: string): Promise<void> {
    const entry = this.pending.get(relPath);
    if (!entry) return;
    const now = await this.statOf(relPath);
    if (this.pending.get(relPath) !== entry) return;
    if (same(entry.last, now)) {
      this.pending.delete(relPath);
      this.onSettled(relPath);
      return;
    }
    entry.last = now;
    entry.timer = this.arm(relPath);
  }

  private async statOf(relPath: string): Promise<Seen> {
    try {
      const st = await lstat(join(this.root, relPath));
      return st.isFile() ? toLocalStat(st) : null;
    } catch (err) {
      // An unreadable path settles too: the sync reports it and retries with backoff.
      return (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? null : 'error';
    }
  }
}
