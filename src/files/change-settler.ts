import { lstat } from 'node:fs/promises';
import { DEFAULTS } from '../config/defaults.js';
import { localPathOf } from './local-name.js';
import { heldOpenForWriting } from './open-writers.js';
import { toLocalStat, type LocalStat } from './scan-tree.js';

type Seen = LocalStat | null | 'unknown' | 'error';

function same(a: Seen, b: Seen): boolean {
  if (a === 'unknown' || b === 'unknown') return false;
  if (a === null || b === null || a === 'error' || b === 'error') return a === b;
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode;
}

/** How a settled path is handed on. */
export interface SettledPath {
  /** The file never went quiet: it was handed on after the longest wait because nobody held it open for writing. */
  hot: boolean;
}

/** Options of a ChangeSettler. */
export interface ChangeSettlerOptions {
  /** Quiet period: no event and no change of size, mtime or mode for this long (default 200 ms). */
  settleMs?: number;
  /**
   * Longest wait for a file that keeps changing (default 1000 ms; 0: wait for quiet forever). Past it, the
   * file is handed on anyway unless a process holds it open for writing (still being written) or that
   * cannot be known; then the wait starts again.
   */
  maxWaitMs?: number;
  /** Whether a process holds the file open for writing (`undefined`: unknown); default: from /proc. */
  isBeingWritten?: (absPath: string | Buffer) => Promise<boolean | undefined>;
}

interface Pending {
  timer: NodeJS.Timeout;
  last: Seen;
  /** The last event or change seen: the quiet period counts from here. */
  changedAt: number;
  /** When the current longest wait began (the first event, or the last time a writer was found). */
  since: number;
}

/**
 * Waits for a changed path to settle: it is handed on once no event arrived and its size, mtime and mode
 * stayed the same for the quiet period. Bursts of events on one path coalesce into one hand-off. A file
 * rewritten more often than the quiet period (a JSON state file saved every 50 ms) is handed on after the
 * longest wait, at most once per that wait, as long as no process holds it open for writing: a file
 * being written (a video arriving, a log held open) is never handed on half done.
 */
export class ChangeSettler {
  private readonly pending = new Map<string, Pending>();
  private readonly settleMs: number;
  private readonly maxWaitMs: number;
  private readonly isBeingWritten: (absPath: string | Buffer) => Promise<boolean | undefined>;

  constructor(
    private readonly root: string,
    private readonly onSettled: (relPath: string, how: SettledPath) => void,
    options: ChangeSettlerOptions = {},
  ) {
    this.settleMs = options.settleMs ?? DEFAULTS.settle;
    this.maxWaitMs = options.maxWaitMs ?? 1000;
    this.isBeingWritten = options.isBeingWritten ?? heldOpenForWriting;
  }

  /** Paths still settling. */
  get size(): number {
    return this.pending.size;
  }

  /** Records an event on `relPath` and (re)starts its quiet period. */
  note(relPath: string): void {
    const now = Date.now();
    const entry = this.pending.get(relPath);
    if (entry) {
      entry.changedAt = now;
      this.arm(entry, relPath);
      return;
    }
    const fresh: Pending = { timer: undefined as unknown as NodeJS.Timeout, last: 'unknown', changedAt: now, since: now };
    this.arm(fresh, relPath);
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

  /** (Re)schedules the next check: when the quiet period ends, or sooner when the longest wait ends first. */
  private arm(entry: Pending, relPath: string): void {
    clearTimeout(entry.timer);
    const now = Date.now();
    const untilQuiet = entry.changedAt + this.settleMs - now;
    const untilMax = this.maxWaitMs > 0 ? entry.since + this.maxWaitMs - now : Infinity;
    entry.timer = setTimeout(() => void this.check(relPath), Math.max(0, Math.min(untilQuiet, untilMax)));
    entry.timer.unref();
  }

  private async check(relPath: string): Promise<void> {
    const entry = this.pending.get(relPath);
    if (!entry) return;
    const seen = await this.statOf(relPath);
    if (this.pending.get(relPath) !== entry) return;
    if (!same(entry.last, seen)) {
      entry.last = seen;
      entry.changedAt = Date.now();
    } else if (Date.now() - entry.changedAt >= this.settleMs) {
      return this.handOn(relPath, { hot: false });
    }
    if (this.maxWaitMs > 0 && Date.now() - entry.since >= this.maxWaitMs) {
      const writing =
        seen === null || seen === 'error' ? false : await this.isBeingWritten(localPathOf(this.root, relPath) ?? '').catch(() => undefined);
      if (this.pending.get(relPath) !== entry) return;
      if (writing === false) return this.handOn(relPath, { hot: true });
      entry.since = Date.now(); // still being written (or unknown): wait for quiet, asking again after another longest wait
    }
    this.arm(entry, relPath);
  }

  private handOn(relPath: string, how: SettledPath): void {
    clearTimeout(this.pending.get(relPath)?.timer);
    this.pending.delete(relPath);
    this.onSettled(relPath, how);
  }

  private async statOf(relPath: string): Promise<Seen> {
    const path = localPathOf(this.root, relPath);
    if (path === undefined) return null; // not a name a scan or watch makes: nothing there
    try {
      const st = await lstat(path);
      return st.isFile() ? toLocalStat(st) : null;
    } catch (err) {
      // An unreadable path settles too: the sync reports it and retries with backoff.
      return (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? null : 'error';
    }
  }
}
