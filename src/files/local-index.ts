import { readFile, appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { atomicWriteFile } from './atomic-write.js';

/** What persistd knows about one file it put in the bucket: the local stat it had then, and the object's identity. */
export interface IndexEntry {
  size: number;
  mtimeMs: number;
  mode: number;
  sha256: string;
  etag: string;
}

const HEADER = JSON.stringify({ persistd: 'files-index', v: 1 });

/**
 * The local index of one tree: relative path → IndexEntry, kept in `<stateDir>/files/<name>.index`.
 * Format: NDJSON; first line a header, then `[path,size,mtimeMs,mode,sha256,etag]` (set) or `[path]` (removed).
 * Changes are appended (cheap at 100k entries); the file is rewritten atomically when the journal grows.
 * A torn last line (crash mid-append) is ignored: the index is a cache that only ever causes re-hashing.
 */
export class LocalIndex {
  private readonly map = new Map<string, IndexEntry>();
  private pending: string[] = [];
  private lines = 0;
  private onDisk: boolean;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    /** Whether an index file existed when loaded (false: first run, or the state dir was lost). */
    readonly existed: boolean,
  ) {
    this.onDisk = existed;
  }

  /** Loads the index at `file`, or an empty one when it does not exist or is unreadable. */
  static async load(file: string): Promise<LocalIndex> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return new LocalIndex(file, false);
    }
    const rows = text.split('\n');
    if (rows[0] !== HEADER) return new LocalIndex(file, false);
    const index = new LocalIndex(file, true);
    for (let i = 1; i < rows.length; i++) {
      const row = rows[i]!;
      if (row === '') continue;
      let v: unknown;
      try {
        v = JSON.parse(row);
      } catch {
        continue;
      }
      if (!Array.isArray(v) || typeof v[0] !== 'string') continue;
      index.lines++;
      if (v.length === 1) index.map.delete(v[0]);
      else if (v.length === 6) {
        index.map.set(v[0], { size: v[1], mtimeMs: v[2], mode: v[3], sha256: v[4], etag: v[5] });
      }
    }
    // A torn last line: rewrite on the next flush rather than append to the fragment.
    if (!text.endsWith('\n')) index.onDisk = false;
    return index;
  }

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }

  /** The entry of a relative path. */
  get(relPath: string): IndexEntry | undefined {
    return this.map.get(relPath);
  }

  /** Whether the path has an entry. */
  has(relPath: string): boolean {
    return this.map.has(relPath);
  }

  /** All relative paths with an entry. */
  paths(): IterableIterator<string> {
    return this.map.keys();
  }

  /** Records (or replaces) an entry; persisted on the next `flush()`. */
  set(relPath: string, entry: IndexEntry): void {
    this.map.set(relPath, { ...entry });
    this.pending.push(JSON.stringify([relPath, entry.size, entry.mtimeMs, entry.mode, entry.sha256, entry.etag]));
  }

  /** Removes an entry; persisted on the next `flush()`. */
  delete(relPath: string): void {
    if (!this.map.delete(relPath)) return;
    this.pending.push(JSON.stringify([relPath]));
  }

  /** Persists pending changes: appends them, or rewrites the whole file atomically when the journal is long. */
  flush(): Promise<void> {
    const next = this.writing.then(() => this.writePending());
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writePending(): Promise<void> {
    if (this.pending.length === 0 && this.onDisk) return;
    const pending = this.pending;
    this.pending = [];
    if (!this.onDisk || this.lines + pending.length > 2 * this.map.size + 1000) {
      await this.rewrite();
      return;
    }
    await mkdir(dirname(this.file), { recursive: true });
    await appendFile(this.file, `${pending.join('\n')}\n`);
    this.lines += pending.length;
  }

  private async rewrite(): Promise<void> {
    const out: string[] = [HEADER];
    for (const [p, e] of this.map) out.push(JSON.stringify([p, e.size, e.mtimeMs, e.mode, e.sha256, e.etag]));
    await atomicWriteFile(this.file, `${out.join('\n')}\n`);
    this.lines = this.map.size;
    this.onDisk = true;
  }
}
