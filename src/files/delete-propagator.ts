import { lstat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ObjectStore } from '../store/object-store.js';
import { NotFoundError } from '../store/store-errors.js';
import type { DeleteGuard } from './delete-guard.js';
import type { LocalIndex } from './local-index.js';
import { localPathOf } from './local-name.js';
import { TaskPool } from './task-pool.js';
import { copyToTrash } from './trash.js';
import type { TreeLayout } from './tree-layout.js';

/** Settings of delete propagation. */
export interface DeletePropagatorOptions {
  /** How long a file must stay gone before its object is deleted (default 2 s: rides out rename-over rewrites). */
  graceMs: number;
  /** Keep a trash copy this long before it is purged; 0 deletes outright. */
  keepDeletedMs: number;
  concurrency: number;
  /** Called for each path whose object was deleted. */
  onDeleted?: (relPath: string) => void;
  /** Whether this instance may still delete in the live namespace (`run`: false once fenced; deletes are then held). */
  mayDelete?: () => Promise<boolean>;
}

/**
 * Deletes the objects of files that persistd saw locally, in the index, and then saw disappear for longer
 * than the grace period; behind the mass-delete guard, with a trash copy first when `keepDeletedMs > 0`.
 */
export class DeletePropagator {
  /** Paths observed locally in this process (or restored by it): only these can ever turn into remote deletes. */
  private readonly seen = new Set<string>();
  private readonly missing = new Map<string, number>();
  private running: Promise<number> = Promise.resolve(0);
  /** Objects deleted so far. */
  deleted = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly layout: TreeLayout,
    private readonly index: LocalIndex,
    private readonly guard: DeleteGuard,
    private readonly options: DeletePropagatorOptions,
    private readonly logger: Logger,
    private readonly onError: (err: unknown, relPath: string | undefined) => void,
  ) {}

  /** Paths waiting for their grace period or held back by the guard. */
  get pending(): number {
    return this.missing.size;
  }

  /** This process saw the file locally (a scan, an upload, a restore just before): its later absence is a delete. */
  noteSeen(relPath: string): void {
    this.seen.add(relPath);
  }

  /**
   * A file in the index is gone: its delete becomes pending (from the first time it was found gone) when this
   * process saw the file, or when `trusted` (a one-shot pass that trusts the index). Returns whether it is pending.
   */
  noteGone(relPath: string, trusted = false, now = Date.now()): boolean {
    if (!trusted && !this.seen.has(relPath)) return false;
    if (!this.missing.has(relPath)) this.missing.set(relPath, now);
    return true;
  }

  /** The file is back: forget the pending delete. */
  noteBack(relPath: string): void {
    this.missing.delete(relPath);
  }

  /** Earliest time a pending delete becomes due, or undefined. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const since of this.missing.values()) min = min === undefined ? since : Math.min(min, since);
    return min === undefined ? undefined : min + this.options.graceMs;
  }

  /** Deletes what is due (everything pending when `ignoreGrace`); returns how many objects were deleted. Runs one at a time. */
  run(ignoreGrace = false, signal?: AbortSignal): Promise<number> {
    const next = this.running.then(() => this.runNow(ignoreGrace, signal));
    this.running = next.catch(() => 0);
    return next;
  }

  private async runNow(ignoreGrace: boolean, signal?: AbortSignal): Promise<number> {
    const now = Date.now();
    const due = [...this.missing].filter(([, since]) => ignoreGrace || since + this.options.graceMs <= now).map(([p]) => p);
    const confirmed: string[] = [];
    for (const relPath of due) {
      // An index entry that names no local path (persistd 0.1 stored a name with a backslash as it was) is gone: its file has another key now.
      const path = localPathOf(this.layout.root, relPath);
      const back =
        path !== undefined &&
        (await lstat(path).then(
          (st) => st.isFile(),
          () => false,
        ));
      if (back || !this.index.has(relPath)) this.missing.delete(relPath);
      else confirmed.push(relPath);
    }
    if (confirmed.length === 0) return 0;
    // Fenced: the live namespace is the other instance's; these deletes stay pending (and are counted).
    if (this.options.mayDelete && !(await this.options.mayDelete())) return 0;
    const wasPaused = this.guard.paused;
    if (!this.guard.allow(confirmed.length, this.index.size)) {
      if (!wasPaused) {
        this.logger.error(
          { tree: this.layout.label, vanished: confirmed.length, limit: this.guard.limit(this.index.size) },
          `${confirmed.length} files vanished at once in ${this.layout.label}: remote deletes are paused (mass-delete guard); nothing was deleted remotely. Restart persistd or raise maxDelete if this was intended`,
        );
      }
      return 0;
    }
    const deletedAt = new Date(now);
    const ready: string[] = [];
    const pool = new TaskPool(this.options.concurrency);
    for (const relPath of confirmed) {
      await pool.add(async () => {
        const entry = this.index.get(relPath)!;
        try {
          if (this.options.keepDeletedMs > 0) {
            await copyToTrash(
              this.store,
              this.layout.objectKey(relPath),
              this.layout.trashKey(relPath, deletedAt),
              entry,
              deletedAt,
              signal,
            );
          }
          ready.push(relPath);
        } catch (err) {
          if (err instanceof NotFoundError) ready.push(relPath);
          else this.onError(err, relPath); // keep it pending: no delete without its trash copy
        }
      });
    }
    await pool.drain();
    for (let i = 0; i < ready.length; i += 1000) {
      const batch = ready.slice(i, i + 1000);
      try {
        await this.store.delete(
          batch.map((p) => this.layout.objectKey(p)),
          { signal },
        );
      } catch (err) {
        this.onError(err, undefined);
        continue;
      }
      for (const relPath of batch) {
        this.index.delete(relPath);
        this.options.onDeleted?.(relPath);
        this.missing.delete(relPath);
        this.logger.info({ tree: this.layout.label, path: relPath }, 'deleted remotely');
      }
      this.deleted += batch.length;
    }
    return ready.length;
  }
}
