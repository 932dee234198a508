import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { joinRelPath, localPathOf } from './local-name.js';

/** Options of a DirWatcher. */
export interface DirWatcherOptions {
  /** Folder levels watched below the root (0: the root's own entries only; default: all). */
  depth?: number;
  /** Folders (relative path, `/`-separated) not to watch, nor anything below them. */
  skipsDir?: (relDir: string) => boolean;
  /** Quiet time per path before an event is looked at (default 20 ms): a file written in many pieces costs one lstat. */
  coalesceMs?: number;
}

/**
 * Watches a tree with one `fs.watch` per folder, never one per file. chokidar watches every file on
 * its own as well (an FSWatcher and an inotify watch each): at 100,000 files that is about 300 MiB of
 * heap, a 10 s stall at start, and more watches than many containers allow. On Linux and macOS a
 * folder's watch reports its entries by name, which is all a sync needs: it stats a path after it
 * settles anyway. Emits, with the absolute path and then the relative path (persistd's text of it,
 * `local-name.ts`: the absolute path alone cannot name a file whose name is not valid UTF-8): `change` for any entry that is not a folder (written,
 * created, removed, renamed; the listener stats it), `addDir` for a folder that appeared (and `change`
 * for each entry found in it, written before its watch began), `unlinkDir` for a watched folder that
 * is gone (and every watched folder below it), `error`, and `ready` once the tree is watched. A watch
 * that breaks is reported as an `error`; the owner's periodic rescan covers what that misses.
 */
export class DirWatcher extends EventEmitter {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly due = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    readonly root: string,
    private readonly options: DirWatcherOptions = {},
  ) {
    super();
  }

  /** Folders watched now. */
  get watchedDirs(): number {
    return this.watchers.size;
  }

  /** Watches every folder of the tree, then emits `ready`. */
  async start(): Promise<void> {
    await this.watchTree('', false);
    if (!this.closed) this.emit('ready');
  }

  /** Stops every watch and pending check. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.due.values()) clearTimeout(timer);
    this.due.clear();
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** The absolute path as text, for listeners that print it. */
  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** The path fs calls need (a Buffer for names that are not valid UTF-8). */
  private fsPath(rel: string): string | Buffer {
    return localPathOf(this.root, rel) ?? this.abs(rel);
  }

  private emitPath(event: 'change' | 'addDir' | 'unlinkDir', rel: string): void {
    this.emit(event, this.abs(rel), rel);
  }

  private depthOf(rel: string): number {
    return rel === '' ? 0 : rel.split('/').length;
  }

  /** Watches `rel` and the folders below it; with `announce`, emits what a new folder brought along. */
  private async watchTree(rel: string, announce: boolean): Promise<void> {
    const pending = [rel];
    while (pending.length > 0 && !this.closed) {
      const dir = pending.pop()!;
      if (this.watchers.has(dir)) continue;
      if (!this.watchDir(dir)) continue;
      if (announce && dir !== rel) this.emitPath('addDir', dir);
      let entries;
      try {
        entries = await readdir(this.fsPath(dir), { withFileTypes: true, encoding: 'buffer' });
      } catch {
        continue; // gone again, or unreadable: the owner's scan reports that
      }
      for (const entry of entries) {
        const child = joinRelPath(dir, entry.name);
        if (entry.isDirectory()) {
          if (this.wantsDir(child)) pending.push(child);
        } else if (announce) this.emitPath('change', child);
      }
    }
  }

  private wantsDir(rel: string): boolean {
    const depth = this.options.depth;
    if (depth !== undefined && this.depthOf(rel) > depth) return false;
    return !(this.options.skipsDir?.(rel) ?? false);
  }

  private watchDir(rel: string): boolean {
    try {
      const watcher = watch(this.fsPath(rel), { persistent: false, encoding: 'buffer' }, (_event, name) => {
        if (name === null || name === undefined) return;
        this.noteEntry(joinRelPath(rel, name));
      });
      watcher.on('error', (err) => this.emit('error', err));
      this.watchers.set(rel, watcher);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.emit('error', err);
      return false;
    }
  }

  private noteEntry(rel: string): void {
    if (this.closed) return;
    clearTimeout(this.due.get(rel));
    const timer = setTimeout(() => {
      this.due.delete(rel);
      void this.checkEntry(rel).catch((err: unknown) => this.emit('error', err));
    }, this.options.coalesceMs ?? 20);
    timer.unref();
    this.due.set(rel, timer);
  }

  private async checkEntry(rel: string): Promise<void> {
    const st = await lstat(this.fsPath(rel)).catch(() => undefined);
    if (this.closed) return;
    if (st?.isDirectory()) {
      if (!this.watchers.has(rel) && this.wantsDir(rel)) {
        this.emitPath('addDir', rel);
        await this.watchTree(rel, true);
      }
      return;
    }
    if (this.watchers.has(rel)) this.unwatchTree(rel);
    else this.emitPath('change', rel);
  }

  /** A watched folder is gone (or replaced by a file): forget it and everything watched below it. */
  private unwatchTree(rel: string): void {
    const prefix = `${rel}/`;
    for (const [dir, watcher] of [...this.watchers]) {
      if (dir !== rel && !dir.startsWith(prefix)) continue;
      watcher.close();
      this.watchers.delete(dir);
      this.emitPath('unlinkDir', dir);
    }
    void lstat(this.fsPath(rel)).then(
      (now) => now.isFile() && !this.closed && this.emitPath('change', rel),
      () => undefined,
    );
  }
}
