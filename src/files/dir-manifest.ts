import { lstat, readFile } from 'node:fs/promises';
import { parseDirs, serializeDirs, type DirStat } from '../format/files-dirs.js';
import { IdentityRequiredError } from '../store/age-store-errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { NotFoundError } from '../store/store-errors.js';
import { atomicWriteFile } from './atomic-write.js';
import { keyTextOf, localPathOf, relPathOfKeyText } from './local-name.js';

/** Reads a whole (small) stream as UTF-8 text. */
export async function readText(body: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}

/** A manifest's rows by relative path (persistd's local text of it); rows whose path is not a safe key text go to `rejected`. */
export function dirsFromKeyTexts(dirs: ReadonlyMap<string, DirStat>): {
  dirs: Map<string, DirStat>;
  rejected: { path: string; why: string }[];
} {
  const out = { dirs: new Map<string, DirStat>(), rejected: [] as { path: string; why: string }[] };
  for (const [text, dir] of dirs) {
    if (text === '') {
      out.dirs.set('', dir);
      continue;
    }
    const local = relPathOfKeyText(text);
    if ('why' in local) out.rejected.push({ path: text, why: local.why });
    else out.dirs.set(local.relPath, dir);
  }
  return out;
}

/** The manifest text of folders given by relative path (stored by key text, `format/files-names.ts`). */
export function serializeLocalDirs(dirs: ReadonlyMap<string, DirStat>): string {
  return serializeDirs(new Map([...dirs].map(([rel, dir]) => [keyTextOf(rel) ?? rel, dir])));
}

/**
 * The writer's side of a tree's folder manifest (modes and mtimes of its folders): fed by full scans and by
 * watcher events, uploaded only when it differs from what was last uploaded or restored (kept in the state
 * directory, so an unchanged tree costs no request). Like files, a folder leaves the manifest only when this
 * process saw it and then saw it gone, or a one-shot pass trusts the replica's memory.
 */
export class DirManifest {
  private dirs = new Map<string, DirStat>();
  private uploaded: string | undefined;
  private readonly seen = new Set<string>();
  private readonly dirty = new Set<string>();
  private loaded = false;
  private flushing: Promise<boolean> = Promise.resolve(false);

  constructor(
    private readonly store: ObjectStore,
    private readonly key: string,
    private readonly localPath: string,
    private readonly root: string,
    /** A restore in this process recreated every folder of the manifest (`run`): they all count as seen here. */
    private readonly restoredBeforeStart = false,
    /** Whether this instance may still write the live namespace (`run`: false once fenced; the manifest then waits). */
    private readonly mayWrite: () => Promise<boolean> = async () => true,
  ) {}

  /** Loads the last manifest: the local copy, else the remote one (one GET, only when the state directory is new). */
  async load(signal?: AbortSignal): Promise<void> {
    if (this.loaded) return;
    let text = await readFile(this.localPath, 'utf8').catch(() => undefined);
    if (text === undefined) {
      try {
        text = await readText(await this.store.get(this.key, { signal }));
      } catch (err) {
        // A writer of an encrypted replica without the identity cannot read it: it starts from the local folders.
        if (!(err instanceof NotFoundError) && !(err instanceof IdentityRequiredError)) throw err;
      }
    }
    const parsed = text === undefined ? undefined : parseDirs(text);
    if (parsed !== undefined) {
      this.dirs = dirsFromKeyTexts(parsed.dirs).dirs;
      this.uploaded = serializeDirs(parsed.dirs);
      if (this.restoredBeforeStart) for (const p of this.dirs.keys()) this.seen.add(p);
    }
    this.loaded = true;
  }

  /** Takes the folders of a full scan; known folders it did not find are dropped if seen before, or if `dropUnseen`. */
  async applyScan(scanned: ReadonlyMap<string, DirStat>, dropUnseen: boolean, signal?: AbortSignal): Promise<void> {
    await this.load(signal);
    for (const p of [...this.dirs.keys()]) if (!scanned.has(p) && (dropUnseen || this.seen.has(p))) this.dirs.delete(p);
    for (const [p, d] of scanned) {
      this.dirs.set(p, d);
      this.seen.add(p);
    }
  }

  /** The replica has no manifest (it was deleted behind persistd's back): the next flush uploads one even if nothing changed. */
  async markRemoteMissing(signal?: AbortSignal): Promise<void> {
    await this.load(signal);
    this.uploaded = undefined;
  }

  /** A folder may have changed (created, removed, or an entry in it was). */
  noteChanged(relDir: string): void {
    this.dirty.add(relDir);
  }

  /** Whether changes are waiting for `flush()` (folders, or file versions an encrypting store records here). */
  get pending(): boolean {
    return this.dirty.size > 0 || this.versionsPending();
  }

  private versionsPending(): boolean {
    const store = this.store as Partial<{ fileVersionsPending(key: string): boolean }>;
    return store.fileVersionsPending?.(this.key) === true;
  }

  /** Re-reads the changed folders and uploads the manifest if it differs; returns whether it uploaded. One at a time. */
  flush(signal?: AbortSignal): Promise<boolean> {
    const next = this.flushing.then(() => this.flushNow(signal));
    this.flushing = next.catch(() => false);
    return next;
  }

  private async flushNow(signal?: AbortSignal): Promise<boolean> {
    await this.load(signal);
    const dirty = [...this.dirty];
    this.dirty.clear();
    for (const rel of dirty) {
      const path = localPathOf(this.root, rel);
      const st = path === undefined ? undefined : await lstat(path).catch(() => undefined);
      if (st?.isDirectory()) {
        this.dirs.set(rel, { mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
        this.seen.add(rel);
      } else if (rel !== '' && this.seen.has(rel)) {
        // A missing root means nothing (a lost disk); a folder seen here and now gone takes its subfolders along.
        for (const p of [...this.dirs.keys()]) if (p === rel || p.startsWith(`${rel}/`)) this.dirs.delete(p);
      }
    }
    const text = serializeLocalDirs(this.dirs);
    if ((text === this.uploaded && !this.versionsPending()) || !(await this.mayWrite())) return false;
    await this.store.put(this.key, text, { contentType: 'application/json', signal });
    this.uploaded = text;
    await atomicWriteFile(this.localPath, text);
    return true;
  }
}
