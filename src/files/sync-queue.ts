import { setMaxListeners } from 'node:events';
import { lstat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import { asideKey } from '../format/files-owner.js';
import type { ObjectStore } from '../store/object-store.js';
import type { FilesFence } from './files-fence.js';
import type { LocalIndex } from './local-index.js';
import { localPathOf } from './local-name.js';
import type { ReplicaView } from './replica-view.js';
import type { TreeLayout } from './tree-layout.js';
import { uploadFile } from './upload-file.js';

/** Upload counters and health, as reported by `TreeSync.status()`. */
export interface SyncStats {
  /** Paths waiting for an upload slot (including ones waiting to be retried). */
  queued: number;
  inFlight: number;
  uploadedItems: number;
  uploadedBytes: number;
  lastSuccessAt: Date | undefined;
  lastError: { message: string; path: string | undefined; at: Date } | undefined;
  /** Paths that could not be read the last time they were tried (retried with backoff). */
  unreadable: string[];
  /** Paths whose last upload attempt failed (unreadable ones included), waiting to be retried. */
  failing: number;
  /** Symlinks seen in the tree and skipped (not synced). */
  symlinks: number;
  /** Files uploaded under this instance's aside prefix after another instance took over (fenced). */
  keptAside: number;
  keptAsideBytes: number;
}

/** What the queue tells its owner. */
export interface SyncQueueHooks {
  /** A file in the index is gone (a remote delete, if this process saw it). */
  onGone(relPath: string): void;
  /** The file was found locally and is stored (uploaded, or unchanged). */
  onStored(relPath: string): void;
  /** The file changed while being uploaded: wait for it to settle, then enqueue again. */
  onUnstable(relPath: string): void;
  /** A complete version was stored, but the file has changed since: a newer one is on its way. */
  onNewerVersion(relPath: string): void;
  /** Nothing queued or in flight. */
  onIdle(): void;
  /** Whether a newer version found right after an upload would be acted on (false: a one-shot pass; no stat after the upload). */
  wantsNewerVersions?(): boolean;
}

const MAX_BACKOFF_MS = 60_000;

/**
 * The bounded parallel upload queue of one tree: one entry per path (bursts coalesce), at most
 * `concurrency` uploads at once, failed paths retried with exponential backoff to a cap. The store may
 * retry a request itself; these retries are per file and slow, so the two do not multiply into a storm.
 */
export class SyncQueue {
  /** Symlinks the last scan found (reported, not synced). */
  private symlinks = 0;
  private readonly ready = new Set<string>();
  private readonly inFlight = new Set<string>();
  private readonly again = new Set<string>();
  private readonly confirm = new Set<string>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly retrying = new Map<string, { attempts: number; timer: NodeJS.Timeout | undefined }>();
  private readonly unreadable = new Set<string>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly abort = new AbortController();
  private uploadedItems = 0;
  private uploadedBytes = 0;
  private lastSuccessAt: Date | undefined;
  private lastError: SyncStats['lastError'];
  private lastCause: unknown;
  private keptAside = 0;
  private keptAsideBytes = 0;
  /** Fenced: what was last kept aside per path (size and mtime), so an unchanged file is not kept aside twice. */
  private readonly aside = new Map<string, string>();

  constructor(
    private readonly store: ObjectStore,
    private readonly layout: TreeLayout,
    private readonly index: LocalIndex,
    private readonly concurrency: number,
    private readonly log: Logger,
    private readonly hooks: SyncQueueHooks,
    /** The replica as last listed, if it was (hints for files the index does not know; kept current with uploads). */
    private readonly replica: () => ReplicaView | undefined = () => undefined,
    /** `run`: the files owner pointer; once another instance took it, uploads go aside and the index is left alone. */
    private readonly fence?: FilesFence,
  ) {
    // Every upload in flight listens on this one signal (the SDK adds a listener per request): not a leak.
    setMaxListeners(0, this.abort.signal);
  }

  /**
   * Queues a path for upload (a path already queued or in flight is not queued twice). `confirm`: the file
   * never went quiet, so its content is read twice and stored only when both reads agree.
   */
  enqueue(relPath: string, options: { confirm?: boolean } = {}): void {
    if (this.abort.signal.aborted) return;
    if (options.confirm === true) this.confirm.add(relPath);
    const retry = this.retrying.get(relPath);
    if (retry?.timer) {
      clearTimeout(retry.timer);
      retry.timer = undefined;
    }
    if (this.inFlight.has(relPath)) this.again.add(relPath);
    else this.ready.add(relPath);
    this.pump();
  }

  /** Queues a path after `ms` (used for files that changed during upload when nothing watches them). */
  enqueueLater(relPath: string, ms: number): void {
    clearTimeout(this.delayed.get(relPath));
    this.delayed.set(
      relPath,
      setTimeout(() => {
        this.delayed.delete(relPath);
        this.enqueue(relPath);
      }, ms),
    );
  }

  /** Whether the path is queued, in flight, or waiting to be retried. */
  busy(relPath: string): boolean {
    return this.ready.has(relPath) || this.inFlight.has(relPath) || this.delayed.has(relPath) || this.retrying.has(relPath);
  }

  /** Resolves when nothing is queued, delayed or in flight (paths waiting for a retry after an error do not count). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** How many symlinks the last scan skipped, for stats(). */
  noteSymlinks(count: number): void {
    this.symlinks = count;
  }

  /** Records an error for status and logs; the caller decides about retrying. */
  recordError(err: unknown, relPath: string | undefined): void {
    this.lastError = { message: messageOf(err), path: relPath, at: new Date() };
    this.lastCause = err;
    this.log.warn({ path: relPath, err: messageOf(err) }, 'sync error');
  }

  /** The error behind `stats().lastError` (kept out of the stats, which are written to status files). */
  lastErrorCause(): unknown {
    return this.lastCause;
  }

  /** Counters for status(). */
  stats(): SyncStats {
    return {
      queued: this.ready.size + this.delayed.size + this.retrying.size,
      inFlight: this.inFlight.size,
      uploadedItems: this.uploadedItems,
      uploadedBytes: this.uploadedBytes,
      lastSuccessAt: this.lastSuccessAt,
      lastError: this.lastError,
      unreadable: [...this.unreadable],
      failing: this.retrying.size,
      symlinks: this.symlinks,
      keptAside: this.keptAside,
      keptAsideBytes: this.keptAsideBytes,
    };
  }

  /** Cancels timers and uploads in flight, and waits for them to end. */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const t of this.delayed.values()) clearTimeout(t);
    for (const r of this.retrying.values()) clearTimeout(r.timer);
    this.ready.clear();
    this.confirm.clear();
    this.delayed.clear();
    this.retrying.clear();
    if (this.inFlight.size > 0) await this.idle();
  }

  private isIdle(): boolean {
    return this.ready.size === 0 && this.inFlight.size === 0 && this.delayed.size === 0;
  }

  private pump(): void {
    while (this.inFlight.size < this.concurrency && this.ready.size > 0) {
      const relPath = this.ready.values().next().value as string;
      this.ready.delete(relPath);
      this.inFlight.add(relPath);
      void this.process(relPath).finally(() => {
        this.inFlight.delete(relPath);
        if (this.again.delete(relPath)) this.ready.add(relPath);
        this.pump();
        if (this.isIdle()) {
          this.hooks.onIdle();
          for (const r of this.idleWaiters.splice(0)) r();
        }
      });
    }
  }

  private async process(relPath: string): Promise<void> {
    const signal = this.abort.signal;
    const confirm = this.confirm.delete(relPath);
    try {
      const path = localPathOf(this.layout.root, relPath);
      if (this.fence && path !== undefined && !(await this.fence.live(signal))) {
        await this.keepAside(relPath, path, signal);
        this.retrying.delete(relPath);
        return;
      }
      const key = this.layout.objectKey(relPath);
      const listed = this.replica()?.get(key);
      const outcome =
        path === undefined
          ? ({ kind: 'gone' } as const)
          : await uploadFile(this.store, key, path, this.index.get(relPath), {
              signal,
              confirm,
              checkNewer: this.hooks.wantsNewerVersions?.() ?? true,
              ...(listed ? { listed } : {}),
            });
      if (outcome.kind === 'gone') {
        if (this.index.has(relPath)) this.hooks.onGone(relPath);
      } else if (outcome.kind === 'unstable') {
        this.hooks.onUnstable(relPath);
      } else {
        this.hooks.onStored(relPath);
        this.index.set(relPath, outcome.entry);
        this.replica()?.stored(key, { etag: outcome.entry.etag, size: outcome.entry.size });
        if (outcome.kind === 'uploaded') {
          this.uploadedItems++;
          this.uploadedBytes += outcome.entry.size;
          this.lastSuccessAt = new Date();
          this.log.debug({ path: relPath, bytes: outcome.entry.size }, 'uploaded');
          if (outcome.changedSince) this.hooks.onNewerVersion(relPath);
        }
      }
      this.retrying.delete(relPath);
      this.unreadable.delete(relPath);
    } catch (err) {
      if (signal.aborted) return;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') this.unreadable.add(relPath);
      this.recordError(err, relPath);
      this.scheduleRetry(relPath);
    }
  }

  /** Fenced: uploads the file under this instance's aside prefix, never over the live object, and leaves the index alone. */
  private async keepAside(relPath: string, path: string | Buffer, signal: AbortSignal): Promise<void> {
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined || !st.isFile()) return;
    const version = `${st.size}:${st.mtimeMs}`;
    if (this.aside.get(relPath) === version) return;
    const outcome = await uploadFile(this.store, asideKey(this.fence!.instance, this.layout.objectKey(relPath)), path, undefined, {
      signal,
    });
    if (outcome.kind === 'unstable') {
      this.hooks.onUnstable(relPath);
      return;
    }
    if (outcome.kind !== 'uploaded') return;
    this.aside.set(relPath, `${outcome.entry.size}:${outcome.entry.mtimeMs}`);
    this.keptAside++;
    this.keptAsideBytes += outcome.entry.size;
    this.log.info({ path: relPath, bytes: outcome.entry.size }, 'fenced: kept aside');
  }

  private scheduleRetry(relPath: string): void {
    const state = this.retrying.get(relPath) ?? { attempts: 0, timer: undefined };
    state.attempts++;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (state.attempts - 1)) * (0.75 + Math.random() / 2);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (this.inFlight.has(relPath)) this.again.add(relPath);
      else this.ready.add(relPath);
      this.pump();
    }, delay);
    state.timer.unref();
    this.retrying.set(relPath, state);
  }
}
