import { DEFAULTS } from '../config/defaults.js';

/** Options of the mass-delete guard. */
export interface DeleteGuardOptions {
  /** Absolute cap on deletes within the window; overrides the fraction when set. */
  maxDelete?: number;
  /** Share of the tree that may be deleted within the window (default 0.2). */
  maxDeleteFraction?: number;
  /** Lower bound of the cap, so small trees can still delete a few files (default 10). */
  maxDeleteMin?: number;
  /** Window over which deletes are counted (default 60 s). */
  deleteWindowMs?: number;
}

/**
 * Pauses remote delete propagation when too many files vanish at once (an `rm -rf` bug in the app must
 * not empty the bucket). Once tripped it stays paused until `resume()` (or a restart, which never
 * deletes files it did not see disappear).
 */
export class DeleteGuard {
  private readonly recent: number[] = [];
  private tripped = false;

  constructor(private readonly options: DeleteGuardOptions = {}) {}

  /** Whether propagation is paused. */
  get paused(): boolean {
    return this.tripped;
  }

  /** The cap for a tree of `treeSize` files. */
  limit(treeSize: number): number {
    if (this.options.maxDelete !== undefined) return this.options.maxDelete;
    return Math.max(this.options.maxDeleteMin ?? 10, Math.ceil((this.options.maxDeleteFraction ?? DEFAULTS.maxDelete) * treeSize));
  }

  /** Asks to delete `count` files now; false (and paused from now on) when that would exceed the cap. */
  allow(count: number, treeSize: number, now = Date.now()): boolean {
    if (this.tripped) return false;
    const windowMs = this.options.deleteWindowMs ?? 60_000;
    while (this.recent.length > 0 && this.recent[0]! <= now - windowMs) this.recent.shift();
    if (this.recent.length + count > this.limit(treeSize + this.recent.length)) {
      this.tripped = true;
      return false;
    }
    for (let i = 0; i < count; i++) this.recent.push(now);
    return true;
  }

  /** Lifts a pause (an operator decided the deletes are intended). */
  resume(): void {
    this.tripped = false;
    this.recent.length = 0;
  }
}
