import { performance } from 'node:perf_hooks';
import { formatBytes, formatDuration, formatRate } from './human-format.js';
import { CLEAR_LINE, claimLiveLine } from './live-line.js';
import type { Logger } from './logger.js';
import { redact } from './redact.js';

/** How to report one long operation (restoring many files, uploading a large snapshot). */
export interface ProgressOptions {
  /** What is being done, e.g. `restore files`; starts every line. */
  label: string;
  totalItems?: number;
  totalBytes?: number;
  /** Where periodic lines (off a terminal) and the final summary go. */
  logger: Logger;
  /** The terminal to redraw a status line on; process.stderr by default. Off a terminal, lines go to the logger. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Period of log lines off a terminal (default 5000 ms); a terminal redraws every min(this, 250) ms. */
  intervalMs?: number;
  /** Clock in milliseconds, for tests; performance.now() by default. */
  now?: () => number;
  /** When the operation began on that clock, if before this reporter was created (elapsed time and rates count from it). */
  startedAt?: number;
}

/** Counts at one moment of an operation. */
export interface ProgressSnapshot {
  label: string;
  items: number;
  bytes: number;
  totalItems: number | undefined;
  totalBytes: number | undefined;
  elapsedMs: number;
}

/** Tracks an operation's progress and shows it: a redrawn line on a terminal, periodic log lines elsewhere. */
export interface ProgressReporter {
  /** Records finished work; bytes default to 0. Ignored after done()/fail(). */
  add(items: number, bytes?: number): void;
  /** Sets or corrects totals once they are known (a listing finished, a file size was read). */
  setTotals(totals: { items?: number; bytes?: number }): void;
  /** The counts so far. */
  snapshot(): ProgressSnapshot;
  /** Stops reporting and logs one summary line (items, bytes, seconds, rate). Idempotent. */
  done(): ProgressSnapshot;
  /** Stops reporting and logs how far the operation got before `err`. Idempotent. */
  fail(err: unknown): ProgressSnapshot;
}

const DEFAULT_INTERVAL_MS = 5000;
const MAX_REDRAW_MS = 250;

/** Starts reporting progress of one operation; call done() or fail() when it ends so no timer is left. */
export function createProgress(options: ProgressOptions): ProgressReporter {
  return new Progress(options);
}

class Progress implements ProgressReporter {
  private items = 0;
  private bytes = 0;
  private totalItems: number | undefined;
  private totalBytes: number | undefined;
  private readonly started: number;
  private readonly now: () => number;
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private readonly timer: NodeJS.Timeout;
  private releaseLine: (() => void) | undefined;
  private finished: ProgressSnapshot | undefined;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? (() => performance.now());
    this.started = options.startedAt ?? this.now();
    this.totalItems = options.totalItems;
    this.totalBytes = options.totalBytes;
    this.stream = options.stream ?? process.stderr;
    const intervalMs = Math.max(1, options.intervalMs ?? DEFAULT_INTERVAL_MS);
    // Only one status line per terminal; a second concurrent reporter falls back to log lines.
    if (this.stream.isTTY === true) this.releaseLine = claimLiveLine(this.stream, () => this.statusLine());
    const tty = this.releaseLine !== undefined;
    this.timer = setInterval(() => (tty ? this.redraw() : this.logLine()), tty ? Math.min(intervalMs, MAX_REDRAW_MS) : intervalMs);
    // A forgotten done() must not keep the process alive.
    this.timer.unref();
    if (tty) this.redraw();
  }

  add(items: number, bytes = 0): void {
    if (this.finished !== undefined) return;
    this.items += items;
    this.bytes += bytes;
  }

  setTotals(totals: { items?: number; bytes?: number }): void {
    if (totals.items !== undefined) this.totalItems = totals.items;
    if (totals.bytes !== undefined) this.totalBytes = totals.bytes;
  }

  snapshot(): ProgressSnapshot {
    if (this.finished !== undefined) return this.finished;
    return {
      label: this.options.label,
      items: this.items,
      bytes: this.bytes,
      totalItems: this.totalItems,
      totalBytes: this.totalBytes,
      elapsedMs: this.now() - this.started,
    };
  }

  done(): ProgressSnapshot {
    if (this.finished !== undefined) return this.finished;
    const snap = this.stop();
    const bytes = snap.bytes > 0 || snap.totalBytes !== undefined;
    this.options.logger.info(
      fields(snap),
      `${snap.label}: done, ${countText(snap.items, undefined, 'item')}` +
        (bytes ? `, ${formatBytes(snap.bytes)}` : '') +
        ` in ${formatDuration(snap.elapsedMs)}` +
        (bytes ? ` (${formatRate(snap.bytes, snap.elapsedMs)})` : ''),
    );
    return snap;
  }

  fail(err: unknown): ProgressSnapshot {
    if (this.finished !== undefined) return this.finished;
    const snap = this.stop();
    this.options.logger.warn(
      { ...fields(snap), err },
      `${snap.label}: stopped after ${progressText(snap)} in ${formatDuration(snap.elapsedMs)}`,
    );
    return snap;
  }

  private stop(): ProgressSnapshot {
    const snap = this.snapshot();
    this.finished = snap;
    clearInterval(this.timer);
    if (this.releaseLine !== undefined) {
      this.releaseLine();
      this.releaseLine = undefined;
      this.stream.write(CLEAR_LINE);
    }
    return snap;
  }

  private logLine(): void {
    const snap = this.snapshot();
    this.options.logger.info(fields(snap), `${snap.label}: ${progressText(snap)}${etaText(snap)}`);
  }

  private redraw(): void {
    this.stream.write(`\r${this.statusLine()}\x1b[K`);
  }

  /** The terminal line, cut to the terminal width: a wrapped line cannot be redrawn with `\r`. */
  private statusLine(): string {
    const snap = this.snapshot();
    const line = redact(`${snap.label}: ${progressText(snap)}${etaText(snap)}`);
    const width = this.stream.columns;
    return width !== undefined && width > 1 && line.length >= width ? `${line.slice(0, width - 2)}…` : line;
  }
}

function fields(snap: ProgressSnapshot): Record<string, unknown> {
  const seconds = snap.elapsedMs / 1000;
  return {
    progress: snap.label,
    items: snap.items,
    totalItems: snap.totalItems,
    bytes: snap.bytes,
    totalBytes: snap.totalBytes,
    seconds: Math.round(seconds * 1000) / 1000,
    bytesPerSecond: seconds > 0 ? Math.round(snap.bytes / seconds) : undefined,
  };
}

function countText(done: number, total: number | undefined, noun: string): string {
  const count = total === undefined ? `${done}` : `${done}/${total}`;
  return `${count} ${noun}${(total ?? done) === 1 ? '' : 's'}`;
}

/** `3/10 items, 1.5 MiB/4 MiB, 512 KiB/s`; the byte parts are left out of operations that count no bytes. */
function progressText(snap: ProgressSnapshot): string {
  const items = countText(snap.items, snap.totalItems, 'item');
  if (snap.bytes === 0 && snap.totalBytes === undefined) return items;
  const bytes = snap.totalBytes === undefined ? formatBytes(snap.bytes) : `${formatBytes(snap.bytes)}/${formatBytes(snap.totalBytes)}`;
  return `${items}, ${bytes}, ${formatRate(snap.bytes, snap.elapsedMs)}`;
}

/** Estimated time left from the average rate so far, by bytes when their total is known, else by items. */
function etaText(snap: ProgressSnapshot): string {
  const remainingMs = (done: number, total: number | undefined): number | undefined =>
    total !== undefined && done > 0 && total >= done ? ((total - done) * snap.elapsedMs) / done : undefined;
  const eta = remainingMs(snap.bytes, snap.totalBytes) ?? remainingMs(snap.items, snap.totalItems);
  return eta === undefined ? '' : `, ETA ${formatDuration(eta)}`;
}
