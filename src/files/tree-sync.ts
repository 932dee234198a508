import { mkdir, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { DEFAULTS } from '../config/defaults.js';
import { PersistdError, messageOf } from '../errors.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { ChangeSettler } from './change-settler.js';
import { DeleteGuard, type DeleteGuardOptions } from './delete-guard.js';
import { DirWatcher } from './dir-watcher.js';
import { DeletePropagator } from './delete-propagator.js';
import { DirManifest } from './dir-manifest.js';
import type { FilesFence } from './files-fence.js';
import { filesStateDir } from './files-state-dir.js';
import { LocalIndex } from './local-index.js';
import type { PathFilterOptions } from './path-filter.js';
import { scanTree } from './scan-tree.js';
import { SyncQueue, type SyncStats } from './sync-queue.js';
import { ReplicaView } from './replica-view.js';
import { purgeTrash } from './trash.js';
import { directoryLayout, type TreeLayout } from './tree-layout.js';

/** Options of a TreeSync (one per protected directory). */
export interface TreeSyncOptions extends PathFilterOptions, DeleteGuardOptions {
  store: ObjectStore;
  /** Tree name: objects live under `files/<name>/`. */
  name: string;
  /** Local folder (created empty when missing; a file there is refused). */
  root: string;
  stateDir: string;
  /** Uploads in flight (default 16). */
  concurrency?: number;
  /** Quiet period before a changed file is uploaded (default 200 ms). */
  settleMs?: number;
  /** Longest wait for a file that never goes quiet and that no process holds open for writing (default 1000 ms; 0: none). */
  maxSettleMs?: number;
  /** How long a file must stay gone before its object is deleted (default 2000 ms). */
  deleteGraceMs?: number;
  /** Keep deleted objects in the trash this long (default 7 days; 0: delete outright). */
  keepDeletedMs?: number;
  /**
   * A restore in this process has just reconciled the index with the disk (`run`): every indexed file was on
   * disk when it ended, so one gone before the first scan was deleted by the app and is propagated (behind
   * the mass-delete guard), rather than taken for absence at startup.
   */
  restoredBeforeStart?: boolean;
  /** `run`: the files owner pointer shared by every tree; once another instance took it, writes go aside. */
  fence?: FilesFence;
  /** Full local rescan while watching, to catch missed events (default 5 min; 0: never). No requests unless something changed. */
  rescanIntervalMs?: number;
  /**
   * While watching, list the replica this often and upload again what is missing from it or was replaced
   * (default 1 h; 0: only at start). One LIST per 1,000 files; nothing else when nothing is missing.
   */
  reconcileIntervalMs?: number;
  logger?: Logger;
}

/** Counters and health of one TreeSync. */
export interface TreeSyncStatus extends SyncStats {
  label: string;
  watching: boolean;
  /** Changed paths waiting to settle. */
  settling: number;
  /** Vanished files waiting for the grace period, or held by the guard. */
  pendingDeletes: number;
  deletesPaused: boolean;
  deletedItems: number;
  /** Files in the index (known to be in the bucket). */
  indexed: number;
  /** Files in the replica by the last listing, kept current with this process's uploads and deletes (undefined: not listed). */
  inReplica: number | undefined;
  /** Index entries the last listings showed missing or replaced (re-uploaded when the local file exists), in total. */
  lostFromReplica: number;
  /** Another instance took over the files (`run`): changes are kept aside, deletes held. */
  fenced: boolean;
}

/** Options of one `syncOnce()` pass. */
export interface SyncOnceOptions {
  /**
   * One-shot backup: files in the index (put there by an earlier run, backup or restore) that are gone
   * locally are deleted remotely at once, although this process never saw them, behind the same
   * mass-delete guard. Never when the tree holds no file at all, never for excluded paths or paths under
   * an unreadable folder. Without it only files seen by this process and then gone are deleted.
   */
  deleteUnseen?: boolean;
  /**
   * List the replica first and drop the index entries it does not confirm (objects deleted or replaced
   * behind persistd's back), so this pass uploads them again. `backup` always does; `run` at start and
   * every `reconcileIntervalMs`.
   */
  reconcile?: boolean;
}

/**
 * Keeps one local tree mirrored to the store: an initial reconcile (uploads only; never deletes because
 * something is absent at startup), then folder-watch events (`DirWatcher`) → settle → bounded upload queue, with deletes
 * propagated only for files seen here and then gone, behind a grace period and the mass-delete guard.
 */
export class TreeSync {
  readonly layout: TreeLayout;
  private readonly log: Logger;
  private readonly guard: DeleteGuard;
  private index: LocalIndex | undefined;
  private replica: ReplicaView | undefined;
  private lostFromReplica = 0;
  private queue: SyncQueue | undefined;
  private deletes: DeletePropagator | undefined;
  private settler: ChangeSettler | undefined;
  private dirs: DirManifest | undefined;
  private dirsTimer: NodeJS.Timeout | undefined;
  private dirsFlushedAt = 0;
  /** What the last scan could not enter (folders without read or search permission). */
  private unreadableDirs: string[] = [];
  private watcher: DirWatcher | undefined;
  private deleteTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private lastPurge = 0;
  private stopped = false;
  /** The final flush is running: nothing waits for the watcher any more. */
  private flushing = false;

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
    await this.open();
    await this.startWatcher();
    await this.syncOnce({ reconcile: true });
    const rescan = this.options.rescanIntervalMs ?? DEFAULTS.rescanInterval;
    if (rescan > 0) {
      this.rescanTimer = setInterval(() => void this.syncOnce().catch((err: unknown) => this.queue!.recordError(err, undefined)), rescan);
      this.rescanTimer.unref();
    }
    const reconcile = this.options.reconcileIntervalMs ?? DEFAULTS.reconcileInterval;
    if (reconcile > 0) {
      this.reconcileTimer = setInterval(
        () => void this.syncOnce({ reconcile: true }).catch((err: unknown) => this.queue!.recordError(err, undefined)),
        reconcile,
      );
      this.reconcileTimer.unref();
    }
  }

  /**
   * One reconcile pass: scan locally, upload what differs from the index, propagate due deletes of files
   * seen before and now gone, purge expired trash (at most hourly). Used by `backup` and by tests.
   */
  async syncOnce(options: SyncOnceOptions = {}): Promise<TreeSyncStatus> {
    await this.open();
    const queue = this.queue!;
    const index = this.index!;
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
    queue.symlinks = scan.symlinks.length;
    for (const [relPath, local] of scan.files) {
      queue.seen.add(relPath);
      this.deletes!.noteBack(relPath);
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
      if (queue.seen.has(relPath) || unseenButKnown) this.deletes!.noteMissing(relPath);
    }
    await queue.idle();
    await this.deletes!.run(options.deleteUnseen === true);
    this.armDeleteTimer();
    // A tree with no file while the replica knows some looks like a lost disk: its folders say nothing either.
    if (this.dirs && !(scan.files.size === 0 && index.size > 0)) {
      await this.flushDirs(() => this.dirs!.applyScan(scan.dirs, trustIndex));
    }
    await this.maybePurge();
    await index.flush();
    return this.status();
  }

  /** Shutdown: upload what is pending now (no settle wait) and what a last scan finds changed, propagate pending deletes, until `deadline` (epoch ms). */
  async flush(options: { deadline?: number } = {}): Promise<{ done: boolean; status: TreeSyncStatus }> {
    if (!this.queue) return { done: true, status: this.status() };
    this.flushing = true;
    for (const p of this.settler?.takeAll() ?? []) this.queue.enqueue(p);
    const work = (async () => {
      // A scan too (lstat only): a folder created and filled at once can outrun the watcher, whose events for it never come.
      await this.syncOnce();
      await this.deletes!.run(true);
      if (this.dirs?.pending) await this.flushDirs();
      await this.index!.flush();
    })();
    const left = options.deadline === undefined ? undefined : options.deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const done = await (left === undefined
      ? work.then(() => true)
      : Promise.race([work.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(0, left))))]));
    if (timer) clearTimeout(timer);
    if (!done) await this.index!.flush().catch(() => undefined);
    return { done, status: this.status() };
  }

  /** Stops watching and timers; waits for uploads in flight; saves the index. Does not flush pending changes. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.deleteTimer);
    clearTimeout(this.dirsTimer);
    clearInterval(this.rescanTimer);
    clearInterval(this.reconcileTimer);
    this.settler?.takeAll();
    await this.watcher?.close();
    this.watcher = undefined;
    await this.queue?.stop();
    await this.index?.flush();
  }

  /** The error behind `status().lastError`, with its kind (a store failure, a local read error). */
  lastErrorCause(): unknown {
    return this.queue?.lastErrorCause();
  }

  /** Lifts a mass-delete pause: the held deletes are propagated on the next pass. */
  resumeDeletes(): void {
    this.guard.resume();
    this.armDeleteTimer();
  }

  /** Queue length, last success and error, bytes and items uploaded, delete state. */
  status(): TreeSyncStatus {
    const base = this.queue?.stats() ?? {
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
    };
    return {
      ...base,
      unreadable: [...base.unreadable, ...this.unreadableDirs.map((d) => `${d}/`)],
      label: this.layout.label,
      watching: this.watcher !== undefined,
      settling: this.settler?.size ?? 0,
      pendingDeletes: this.deletes?.pending ?? 0,
      deletesPaused: this.guard.paused,
      deletedItems: this.deletes?.deleted ?? 0,
      indexed: this.index?.size ?? 0,
      inReplica: this.replica?.count,
      lostFromReplica: this.lostFromReplica,
      fenced: this.options.fence?.fenced !== undefined,
    };
  }

  private async open(): Promise<void> {
    if (this.index) return;
    const root = this.layout.root;
    const st = await stat(root).catch(() => undefined);
    if (st && !st.isDirectory())
      throw new PersistdError(`cannot sync ${root}: it is not a directory`, {
        kind: 'usage',
        op: 'sync',
        path: root,
        hint: 'point the option at a folder',
      });
    if (!st) await mkdir(root, { recursive: true });
    const filesDir = await filesStateDir(this.options.stateDir, this.options.store);
    const index = await LocalIndex.load(this.layout.indexPath(filesDir));
    const concurrency = this.options.concurrency ?? DEFAULTS.concurrency;
    const onError = (err: unknown, p: string | undefined): void => this.queue!.recordError(err, p);
    const onDeleted = (p: string): void => this.replica?.removed(this.layout.objectKey(p));
    const fence = this.options.fence;
    const mayWrite = async (): Promise<boolean> => fence === undefined || (await fence.live());
    this.deletes = new DeletePropagator(
      this.options.store,
      this.layout,
      index,
      this.guard,
      {
        graceMs: this.options.deleteGraceMs ?? DEFAULTS.deleteGrace,
        keepDeletedMs: this.options.keepDeletedMs ?? DEFAULTS.keepDeleted,
        concurrency,
        onDeleted,
        mayDelete: mayWrite,
      },
      this.log,
      onError,
    );
    this.queue = new SyncQueue(
      this.options.store,
      this.layout,
      index,
      concurrency,
      this.log,
      {
        onGone: (p) => {
          this.deletes!.noteMissing(p);
          this.armDeleteTimer();
        },
        onUnstable: (p) =>
          this.settler && !this.flushing ? this.settler.note(p) : this.queue!.enqueueLater(p, this.options.settleMs ?? DEFAULTS.settle),
        // Watching, the newer version goes up once it settles (at shutdown, at once); a one-shot pass is done: it stored a complete version.
        onNewerVersion: (p) => {
          if (this.flushing) this.queue!.enqueueLater(p, this.options.settleMs ?? DEFAULTS.settle);
          else this.settler?.note(p);
        },
        wantsNewerVersions: () => this.watcher !== undefined || this.flushing,
        onIdle: () => void index.flush().catch((err: unknown) => this.log.warn({ err: messageOf(err) }, 'saving the local index failed')),
      },
      () => this.replica,
      fence,
    );
    if (this.options.restoredBeforeStart === true) for (const p of index.paths()) this.queue.seen.add(p);
    if (this.layout.dirs)
      this.dirs = new DirManifest(
        this.options.store,
        this.layout.dirs.key,
        this.layout.dirs.localPath(filesDir),
        root,
        this.options.restoredBeforeStart === true,
        mayWrite,
      );
    this.index = index;
  }

  /**
   * Drops the index entries a fresh listing does not confirm: their files go up again in this pass. A
   * folder manifest missing from the listing is uploaded again too.
   */
  private async reconcile(view: ReplicaView): Promise<void> {
    const dropped = view.reconcile(this.index!, this.layout);
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
    try {
      await before?.();
      if (await this.dirs!.flush()) this.log.debug('uploaded the folder manifest');
    } catch (err) {
      this.queue!.recordError(err, undefined);
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
    this.settler = new ChangeSettler(root, (p, how) => this.queue!.enqueue(p, { confirm: how.hot }), {
      settleMs: this.options.settleMs,
      maxWaitMs: this.options.maxSettleMs,
    });
    const watcher = new DirWatcher(root, { depth: this.layout.depth, skipsDir: (rel) => this.layout.filter.skipsDir(rel) });
    const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    // Listeners take the watcher's relative path (its second argument): an absolute path cannot name every file.
    const onFile = (_abs: string, rel: string): void => {
      if (this.stopped || !this.layout.filter.accepts(rel)) return;
      this.settler!.note(rel);
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
      for (const p of this.index!.paths()) if (p.startsWith(dir)) this.settler!.note(p);
      if (rel !== '') {
        this.noteDirChanged(rel);
        this.noteDirChanged(parentOf(rel));
      }
    });
    watcher.on('error', (err: unknown) => this.queue!.recordError(err, undefined));
    await watcher.start();
    this.watcher = watcher;
  }

  private armDeleteTimer(): void {
    clearTimeout(this.deleteTimer);
    const due = this.deletes?.nextDue();
    if (due === undefined || this.stopped || this.guard.paused) return;
    this.deleteTimer = setTimeout(
      () => {
        void this.deletes!.run()
          .then(() => this.index!.flush())
          .catch((err: unknown) => this.queue!.recordError(err, undefined))
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
