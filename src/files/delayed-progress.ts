import { performance } from 'node:perf_hooks';
import { createProgress, type ProgressOptions, type ProgressReporter } from '../log/progress.js';

/** Options of a DelayedProgress: a ProgressReporter's, plus how long to stay quiet. */
export interface DelayedProgressOptions extends Omit<ProgressOptions, 'startedAt' | 'now'> {
  /** Nothing is shown or logged before this much time passed (default 2000 ms): fast operations stay quiet. */
  delayMs?: number;
}

/**
 * Progress of an operation that may be quick or long (a restore of 3 files or of 100,000): counts from
 * the start, but shows a live line or periodic log lines, and a summary, only once it has run for `delayMs`.
 */
export class DelayedProgress {
  private readonly startedAt = performance.now();
  private readonly timer: NodeJS.Timeout;
  private reporter: ProgressReporter | undefined;
  private items = 0;
  private bytes = 0;
  private totals: { items?: number; bytes?: number } = {};
  private ended = false;

  constructor(private readonly options: DelayedProgressOptions) {
    this.timer = setTimeout(() => this.show(), options.delayMs ?? 2000);
    this.timer.unref();
  }

  /** Records finished work. */
  add(items: number, bytes = 0): void {
    this.items += items;
    this.bytes += bytes;
    this.reporter?.add(items, bytes);
  }

  /** Sets the totals once they are known. */
  setTotals(totals: { items?: number; bytes?: number }): void {
    this.totals = { ...this.totals, ...totals };
    this.reporter?.setTotals(totals);
  }

  /** Ends it; logs the summary only if progress was being shown. */
  done(): void {
    this.end()?.done();
  }

  /** Ends it after a failure; logs how far it got only if progress was being shown. */
  fail(err: unknown): void {
    this.end()?.fail(err);
  }

  private end(): ProgressReporter | undefined {
    clearTimeout(this.timer);
    this.ended = true;
    return this.reporter;
  }

  private show(): void {
    if (this.ended) return;
    this.reporter = createProgress({
      ...this.options,
      startedAt: this.startedAt,
      totalItems: this.totals.items,
      totalBytes: this.totals.bytes,
    });
    this.reporter.add(this.items, this.bytes);
  }
}
