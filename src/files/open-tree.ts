import { mkdir, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { DEFAULTS } from '../config/defaults.js';
import { PersistdError, messageOf } from '../errors.js';
import { ChangeSettler } from './change-settler.js';
import type { DeleteGuard } from './delete-guard.js';
import { DeletePropagator } from './delete-propagator.js';
import { DirManifest } from './dir-manifest.js';
import { DirWatcher } from './dir-watcher.js';
import { filesStateDir } from './files-state-dir.js';
import { LocalIndex } from './local-index.js';
import { ReplicaView } from './replica-view.js';
import { scanTree } from './scan-tree.js';
import { SyncQueue } from './sync-queue.js';
import type { SyncOnceOptions, TreeSyncOptions, TreeSyncStatus } from './tree-sync-options.js';
import type { TreeLayout } from './tree-layout.js';
import { purgeTrash } from './trash.js';

/**
 * One tree of a TreeSync once its folder exists and its index is loaded: the upload queue, the delete
 * propagator (which owns the "seen in this process" set that makes deletes safe), the folder manifest, and,
 * while watching, the watcher, the settler and the timers. Made by `OpenTree.open`, complete from the start.
 */
export class OpenTree {
  private readonly queue: SyncQueue;
  private readonly deletes: DeletePropagator;
  /** The folder manifest (directory trees only; a loose file has none). */
  private readonly dirs: DirManifest | undefined;
  /** The replica as last listed (undefined until a pass reconciles). */
  private replica: ReplicaView | undefined;
  private lostFromReplica = 0;
  /** What the last scan could not enter (folders without read or search permission). */
  private unreadableDirs: string[] = [];
  private settler: ChangeSettler | undefined;
  private watcher: DirWatcher | undefined;
  private dirsTimer: NodeJS.Timeout | undefined;
  private dirsFlushedAt = 0;
  private deleteTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private lastPurge = 0;
  private stopped = false;
  /** The final flush is running: nothing waits for the watcher any more. */
  private flushing = false;

  /** Creates the folder when missing (a file there is refused) and loads the index of the tree. */
  static async open(options: TreeSyncOptions, layout: TreeLayout, guard: DeleteGuard, log: Logger): Promise<OpenTree> {
    const root = layout.root;
    const st = await stat(root).catch(() => undefined);
    if (st && !st.isDirectory())
      throw new PersistdError(`cannot sync ${root}: it is not a directory`, {
        kind: 'usage',
        op: 'sync',
        path: root,
        hint: 'point the option at a folder',
      });
    if (!st) await mkdir(root, { recursive: true });
    const filesDir = await filesStateDir(options.stateDir, options.store);
    const index = await LocalIndex.load(layout.indexPath(filesDir));
    return new OpenTree(options, layout, guard, log, index, filesDir);
  }

  private constructor(
    private readonly options: TreeSyncOptions,
    private readonly layout: TreeLayout,
    private readonly guard: DeleteGuard,
    private readonly log: Logger,
    private readonly index: LocalIndex,
    filesDir: string,
  ) {
    const concurrency = options.concurrency ?? DEFAULTS.concurrency;
    const settleMs = options.settleMs ?? DEFAULTS.settle;
    const fence = options.fence;
    const mayWrite = async (): Promise<boolean> => fence === undefined || (await fence.live());
    this.deletes = new DeletePropagator(
      options.store,
      layout,
      index,
      guard,
      {
        graceMs: options.deleteGraceMs ?? DEFAULTS.deleteGrace,
        keepDeletedMs: options.keepDeletedMs ?? DEFAULTS.keepDeleted,
        concurrency,
        onDeleted: (p) => this.replica?.removed(layout.objectKey(p)),
        mayDelete: mayWrite,
      },
      log,
      (err, p) => this.queue.recordError(err, p),
    );
    this.queue = new SyncQueue(
      options.store,
      layout,
      index,
      concurrency,
      log,
      {
        onGone: (p) => {
          if (this.deletes.noteGone(p)) this.armDeleteTimer();
        },
        onStored: (p) => this.deletes.noteSeen(p),
        onUnstable: (p) => (this.settler && !this.flushing ? this.settler.note(p) : this.queue.enqueueLater(p, settleMs)),
        // Watching, the newer version goes up once it settles (at shutdown, at once); a one-shot pass is done: it stored a complete version.
        onNewerVersion: (p) => {
          if (this.flushing) this.queue.enqueueLater(p, settleMs);
          else this.settler?.note(p);
        },
        wantsNewerVersions: () => this.watcher !== undefined || this.flushing,
        onIdle: () => void index.flush().catch((err: unknown) => log.warn({ err: messageOf(err) }, 'saving the local index failed')),
      },
      () => this.replica,
      fence,
    );
    if (options.restoredBeforeStart === true) for (const p of index.paths()) this.deletes.noteSeen(p);
    this.dirs = layout.dirs
      ? new DirManifest(
          options.store,
          layout.dirs.key,
          layout.dirs.localPath(filesDir),
          layout.root,
          options.restoredBeforeStart === true,
          mayWrite,
        )
      : undefined;
  }

  /** Watching, then the first pass (with a listing of the replica), then the rescan and reconcile timers. */
  async start(): Promise<void> {
    await this.startWatcher();
    if (this.stopped) return; // stopped while it was being opened or the watcher started: a shutdown
    await this.syncOnce({ reconcile: true });
    const rescan = this.options.rescanIntervalMs ?? DEFAULTS.rescanInterval;
    if (rescan > 0) {
      this.rescanTimer = setInterval(() => void this.syncOnce().catch((err: unknown) => this.queue.recordError(err, undefined)), rescan);
      this.rescanTimer.unref();
    }
    const reconcile = this.options.reconcileIntervalMs ?? DEFAULTS.reconcileInterval;
    if (reconcile > 0) {
      this.reconcileTimer = setInterval(
        () => void this.syncOnce({ reconcile: true }).catch((err: unknown) => this.queue.recordError(err, undefined)),
        reconcile,
      );
      this.reconcileTimer.unref();
    }
  }

  /** One reconcile pass (see TreeSync.syncOnce). */
  async syncOnce(options: SyncOnceOptions = {}): Promise<TreeSyncStatus> {
    const { queue, index, deletes } = this;
    // The listing and the local scan run side by side; the index is reconciled before the scan is compared with it.
    const [listing, scan] = await Promise.all([
      options.reconcile === true ? ReplicaView.list(this.options.store, this.layout) : undefined,
      scanTree(this.layout.root, this.layout.filter),
    ]);
    if (listing !== undefined) await this.reconcile(listing);
    this.unreadableDirs = scan.unreadable;
    for (const p of scan.unreadable)
      queue.recordError(
        new PersistdError(`cannot read ${p}: permission denied`, { op: 'scan', path: p, hint: 'fix its permissions; persistd retries' }),
        p,
      );
    if (scan.symlinks.length > 0) this.log.debug({ symlinks: scan.symlinks.length }, 'symlinks are not synced');
    queue.noteSymlinks(scan.symlinks.length);
    for (const [relPath, local] of scan.files) {
      deletes.noteSeen(relPath);
      deletes.noteBack(relPath);
      const known = index.get(relPath);
      if (!known || known.size !== local.size || known.mtimeMs !== local.mtimeMs || known.mode !== local.mode) queue.enqueue(relPath);
    }
    // An empty (or missing) tree never deletes anything: that is what a lost disk looks like.
    const trustIndex = options.deleteUnseen === true && scan.files.size > 0;
    const unreadableDirs = scan.unreadable.map((p) => `${p}/`);
    for (const relPath of index.paths()) {
      if (scan.files.has(relPath) || queue.busy(relPath)) continue;
      // Files seen in this process and now gone count as deleted; absence at startup means nothing,
      // unless a one-shot pass trusts the index, and then only for files it could have seen.
      const unseenButKnown = trustIndex && this.layout.filter.accepts(relPath) && !unreadableDirs.some((d) => relPath.startsWith(d));
      deletes.noteGone(relPath, unseenButKnown);
    }
    await queue.idle();
    await deletes.run(options.deleteUnseen === true);
    this.armDeleteTimer();
    // A tree with no file while the replica knows some looks like a lost disk: its folders say nothing either.
    const dirs = this.dirs;
    if (dirs && !(scan.files.size === 0 && index.size > 0)) {
      await this.flushDirs(() => dirs.applyScan(scan.dirs, trustIndex));
    }
    await this.maybePurge();
    await index.flush();
    return this.status();
  }

  /** Shutdown: see TreeSync.flush. */
  async flush(deadline: number | undefined): Promise<{ done: boolean; status: TreeSyncStatus }> {
    this.flushing = true;
    for (const p of this.settler?.takeAll() ?? []) this.queue.enqueue(p);
    const work = (async () => {
      // A scan too (lstat only): a folder created and filled at once can outrun the watcher, whose events for it never come.
      await this.syncOnce();
      await this.deletes.run(true);
      if (this.dirs?.pending) await this.flushDirs();
      await this.index.flush();
    })();
    const left = deadline === undefined ? undefined : deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const done = await (left === undefined
      ? work.then(() => true)
      : Promise.race([work.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(0, left))))]));
    if (timer) clearTimeout(timer);
    if (!done) await this.index.flush().catch(() => undefined);
    return { done, status: this.status() };
  }

  /** Stops watching and timers; waits for uploads in flight; saves the index. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.deleteTimer);
    clearTimeout(this.dirsTimer);
    clearInterval(this.rescanTimer);
    clearInterval(this.reconcileTimer);
    this.settler?.takeAll();
    await this.watcher?.close();
    this.watcher = undefined;
    await this.queue.stop();
    await this.index.flush();
  }

  /** The error behind `status().lastError`. */
  lastErrorCause(): unknown {
    return this.queue.lastErrorCause();
  }

  /** Re-arms the delete timer (after the guard was resumed). */
  resumeDeletes(): void {
    this.armDeleteTimer();
  }

  /** Queue length, last success and error, bytes and items uploaded, delete state. */
  status(): TreeSyncStatus {
    const base = this.queue.stats();
    return {
      ...base,
      unreadable: [...base.unreadable, ...this.unreadableDirs.map((d) => `${d}/`)],
      label: this.layout.label,
      watching: this.watcher !== undefined,
      settling: this.settler?.size ?? 0,
      pendingDeletes: this.deletes.pending,
      deletesPaused: this.guard.paused,
      deletedItems: this.deletes.deleted,
      indexed: this.index.size,
      inReplica: this.replica?.count,
      lostFromReplica: this.lostFromReplica,
      fenced: this.options.fence?.fenced !== undefined,
    };
  }

  /**
   * Drops the index entries a fresh listing does not confirm: their files go up again in this pass. A
   * folder manifest missing from the listing is uploaded again too.
   */
  private async reconcile(view: ReplicaView): Promise<void> {
    const dropped = view.reconcile(this.index, this.layout);
    this.replica = view;
    if (view.dirsListed === false) await this.dirs?.markRemoteMissing();
    if (dropped.length === 0) return;
    this.lostFromReplica += dropped.length;
    this.log.warn(
      { files: dropped.length, first: dropped[0] },
      `${dropped.length} file(s) this instance had stored are missing from the replica or were replaced there (deleted or written behind persistd's back, or another replica at the same address): uploading them again`,
    );
  }

  /** Uploads the folder manifest if it changed; a failure is recorded and retried by the next pass. */
  private async flushDirs(before?: () => Promise<void>): Promise<void> {
    if (!this.dirs) return;
    try {
      await before?.();
      if (await this.dirs.flush()) this.log.debug('uploaded the folder manifest');
    } catch (err) {
      this.queue.recordError(err, undefined);
    }
  }

  /** A folder changed while watching: its manifest entry is refreshed within about a second. */
  private noteDirChanged(relDir: string): void {
    if (!this.dirs) return;
    this.dirs.noteChanged(relDir);
    if (this.dirsTimer !== undefined || this.stopped) return;
    // Within a second of the first change, then at most every 10 s: a folder whose files are renamed into place
    // many times a second changes its mtime as often, and one manifest PUT per change would be a steady cost.
    this.dirsTimer = setTimeout(
      () => {
        this.dirsTimer = undefined;
        this.dirsFlushedAt = Date.now();
        void this.flushDirs();
      },
      Math.max(1000, this.dirsFlushedAt + 10_000 - Date.now()),
    );
    this.dirsTimer.unref();
  }

  private async startWatcher(): Promise<void> {
    const root = this.layout.root;
    const settler = new ChangeSettler(root, (p, how) => this.queue.enqueue(p, { confirm: how.hot }), {
      settleMs: this.options.settleMs,
      maxWaitMs: this.options.maxSettleMs,
    });
    this.settler = settler;
    const watcher = new DirWatcher(root, { depth: this.layout.depth, skipsDir: (rel) => this.layout.filter.skipsDir(rel) });
    const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    // Listeners take the watcher's relative path (its second argument): an absolute path cannot name every file.
    const onFile = (_abs: string, rel: string): void => {
      if (this.stopped || !this.layout.filter.accepts(rel)) return;
      settler.note(rel);
      this.noteDirChanged(parentOf(rel)); // adding, removing or renaming over an entry moves the folder's mtime
    };
    watcher.on('change', onFile); // written, created, removed or renamed: the settler stats it
    watcher.on('addDir', (_abs: string, rel: string) => {
      if (rel === '' || this.stopped) return;
      this.noteDirChanged(rel);
      this.noteDirChanged(parentOf(rel));
    });
    watcher.on('unlinkDir', (_abs: string, rel: string) => {
      const dir = `${rel}/`;
      for (const p of this.index.paths()) if (p.startsWith(dir)) settler.note(p);
      if (rel !== '') {
        this.noteDirChanged(rel);
        this.noteDirChanged(parentOf(rel));
      }
    });
    watcher.on('error', (err: unknown) => this.queue.recordError(err, undefined));
    await watcher.start();
    if (this.stopped) await watcher.close();
    else this.watcher = watcher;
  }

  private armDeleteTimer(): void {
    clearTimeout(this.deleteTimer);
    const due = this.deletes.nextDue();
    if (due === undefined || this.stopped || this.guard.paused) return;
    this.deleteTimer = setTimeout(
      () => {
        void this.deletes
          .run()
          .then(() => this.index.flush())
          .catch((err: unknown) => this.queue.recordError(err, undefined))
          .finally(() => this.armDeleteTimer());
      },
      Math.max(50, due - Date.now()),
    );
    this.deleteTimer.unref();
  }

  private async maybePurge(): Promise<void> {
    const keep = this.options.keepDeletedMs ?? DEFAULTS.keepDeleted;
    if (keep <= 0 || Date.now() - this.lastPurge < 60 * 60_000) return;
    this.lastPurge = Date.now();
    const purged = await purgeTrash(this.options.store, this.layout.trashPrefix, (k) => this.layout.parseTrash(k), keep, this.log);
    if (purged > 0) this.log.info({ purged }, 'purged expired trash copies');
  }
}
