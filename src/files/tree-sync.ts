import type { Logger } from 'pino';
import { silentLogger } from '../log/logger.js';
import { DeleteGuard } from './delete-guard.js';
import { OpenTree } from './open-tree.js';
import type { SyncOnceOptions, TreeSyncOptions, TreeSyncStatus } from './tree-sync-options.js';
import { directoryLayout, type TreeLayout } from './tree-layout.js';

export type { SyncOnceOptions, TreeSyncOptions, TreeSyncStatus } from './tree-sync-options.js';

/**
 * Keeps one local tree mirrored to the store: an initial reconcile (uploads only; never deletes because
 * something is absent at startup), then folder-watch events (`DirWatcher`) → settle → bounded upload queue, with deletes
 * propagated only for files seen here and then gone, behind a grace period and the mass-delete guard.
 * Constructing one touches nothing; the first `start()` or `syncOnce()` opens the tree (`OpenTree`: the
 * folder made, the index loaded, every collaborator in place) in one step.
 */
export class TreeSync {
  readonly layout: TreeLayout;
  private readonly log: Logger;
  private readonly guard: DeleteGuard;
  /** The open tree, once opening it succeeded (a failed open is tried again by the next call). */
  private tree: OpenTree | undefined;
  private opening: Promise<OpenTree> | undefined;

  constructor(
    private readonly options: TreeSyncOptions,
    layout?: TreeLayout,
  ) {
    this.layout = layout ?? directoryLayout(options.name, options.root, options);
    this.log = (options.logger ?? silentLogger()).child({ tree: this.layout.label });
    this.guard = new DeleteGuard(options);
  }

  /** Initial reconcile, then watching. Resolves once the watcher is live and the first pass is queued and done. */
  async start(): Promise<void> {
    await (await this.open()).start();
  }

  /**
   * One reconcile pass: scan locally, upload what differs from the index, propagate due deletes of files
   * seen before and now gone, purge expired trash (at most hourly). Used by `backup` and by tests.
   */
  async syncOnce(options: SyncOnceOptions = {}): Promise<TreeSyncStatus> {
    return (await this.open()).syncOnce(options);
  }

  /** Shutdown: upload what is pending now (no settle wait) and what a last scan finds changed, propagate pending deletes, until `deadline` (epoch ms). */
  async flush(options: { deadline?: number } = {}): Promise<{ done: boolean; status: TreeSyncStatus }> {
    if (!this.tree) return { done: true, status: this.status() };
    return this.tree.flush(options.deadline);
  }

  /** Stops watching and timers; waits for uploads in flight; saves the index. Does not flush pending changes. */
  async stop(): Promise<void> {
    // An open in flight (a start racing a shutdown) is waited for, so the tree it opens is stopped too.
    const tree = this.tree ?? (await this.opening?.catch(() => undefined));
    await tree?.stop();
  }

  /** The error behind `status().lastError`, with its kind (a store failure, a local read error). */
  lastErrorCause(): unknown {
    return this.tree?.lastErrorCause();
  }

  /** Lifts a mass-delete pause: the held deletes are propagated on the next pass. */
  resumeDeletes(): void {
    this.guard.resume();
    this.tree?.resumeDeletes();
  }

  /** Queue length, last success and error, bytes and items uploaded, delete state. */
  status(): TreeSyncStatus {
    if (this.tree) return this.tree.status();
    return {
      queued: 0,
      inFlight: 0,
      uploadedItems: 0,
      uploadedBytes: 0,
      lastSuccessAt: undefined,
      lastError: undefined,
      unreadable: [],
      failing: 0,
      symlinks: 0,
      keptAside: 0,
      keptAsideBytes: 0,
      label: this.layout.label,
      watching: false,
      settling: 0,
      pendingDeletes: 0,
      deletesPaused: this.guard.paused,
      deletedItems: 0,
      indexed: 0,
      inReplica: undefined,
      lostFromReplica: 0,
      fenced: this.options.fence?.fenced !== undefined,
    };
  }

  private open(): Promise<OpenTree> {
    if (this.tree) return Promise.resolve(this.tree);
    this.opening ??= OpenTree.open(this.options, this.layout, this.guard, this.log).then(
      (tree) => (this.tree = tree),
      (err: unknown) => {
        this.opening = undefined;
        throw err;
      },
    );
    return this.opening;
  }
}
