import { createReadStream } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { atomicWriteLines } from './atomic-write-lines.js';
import type { IndexEntry } from './index-entry.js';
import { packEntry, unpackEntry } from './index-entry-codec.js';

const HEADER = JSON.stringify({ persistd: 'files-index', v: 1 });

/**
 * The local index of one tree: relative path → IndexEntry, kept in `<stateDir>/files/<name>.index`.
 * Format: NDJSON; first line a header, then `[path,size,mtimeMs,mode,sha256,etag]` (set) or `[path]` (removed).
 * Changes are appended (cheap at 100k entries); the file is rewritten atomically when the journal grows.
 * A torn last line (crash mid-append) is ignored: the index is a cache that only ever causes re-hashing.
 * In memory each entry is one packed string (`index-entry-codec.ts`), and changes not yet saved are
 * only their paths: a pass over 100,000 files holds no JSON lines, and loading streams the file.
 */
export class LocalIndex {
  private readonly map = new Map<string, string>();
  /** Paths changed since the last flush; their lines are made from the map when written. */
  private pending = new Set<string>();
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
    const index = new LocalIndex(file, true);
    let header: string | undefined;
    let rest = '';
    try {
      for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 16 })) {
        const rows = (rest + (chunk as string)).split('\n');
        rest = rows.pop()!;
        for (const row of rows) {
          if (header === undefined) {
            header = row;
            if (header !== HEADER) return new LocalIndex(file, false);
          } else index.applyRow(row);
        }
      }
    } catch {
      return new LocalIndex(file, false);
    }
    if (rest !== '') {
      if (header === undefined) {
        if (rest !== HEADER) return new LocalIndex(file, false);
      } else index.applyRow(rest);
      // A torn last line: rewrite on the next flush rather than append to the fragment.
      index.onDisk = false;
    } else if (header === undefined) return new LocalIndex(file, false);
    return index;
  }

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }

  /** The entry of a relative path (a new object on every call). */
  get(relPath: string): IndexEntry | undefined {
    const packed = this.map.get(relPath);
    return packed === undefined ? undefined : unpackEntry(packed);
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
    this.map.set(relPath, packEntry(entry));
    this.pending.add(relPath);
  }

  /** Removes an entry; persisted on the next `flush()`. */
  delete(relPath: string): void {
    if (!this.map.delete(relPath)) return;
    this.pending.add(relPath);
  }

  /** Persists pending changes: appends them, or rewrites the whole file atomically when the journal is long. */
  flush(): Promise<void> {
    const next = this.writing.then(() => this.writePending());
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** One journal line after the header; rows that do not parse are skipped. */
  private applyRow(row: string): void {
    if (row === '') return;
    let v: unknown;
    try {
      v = JSON.parse(row);
    } catch {
      return;
    }
    if (!Array.isArray(v) || typeof v[0] !== 'string') return;
    this.lines++;
    if (v.length === 1) this.map.delete(v[0]);
    else if (v.length === 6) this.map.set(v[0], packEntry({ size: v[1], mtimeMs: v[2], mode: v[3], sha256: v[4], etag: v[5] }));
  }

  /** The journal line that gives `relPath` its current state. */
  private lineOf(relPath: string): string {
    const packed = this.map.get(relPath);
    if (packed === undefined) return JSON.stringify([relPath]);
    const e = unpackEntry(packed);
    return JSON.stringify([relPath, e.size, e.mtimeMs, e.mode, e.sha256, e.etag]);
  }

  private async writePending(): Promise<void> {
    if (this.pending.size === 0 && this.onDisk) return;
    const pending = this.pending;
    this.pending = new Set();
    if (!this.onDisk || this.lines + pending.size > 2 * this.map.size + 1000) {
      await this.rewrite();
      return;
    }
    await mkdir(dirname(this.file), { recursive: true });
    // In slices, so that a pass that changed 100,000 entries never builds one 15 MB string.
    let slice: string[] = [];
    for (const relPath of pending) {
      slice.push(this.lineOf(relPath));
      if (slice.length === 2000) {
        await appendFile(this.file, `${slice.join('\n')}\n`);
        slice = [];
      }
    }
    if (slice.length > 0) await appendFile(this.file, `${slice.join('\n')}\n`);
    this.lines += pending.size;
  }

  private async rewrite(): Promise<void> {
    const lineOf = (relPath: string): string => this.lineOf(relPath);
    const paths = this.map.keys();
    function* lines(): Generator<string> {
      yield HEADER;
      for (const relPath of paths) yield lineOf(relPath);
    }
    await atomicWriteLines(this.file, lines());
    this.lines = this.map.size;
    this.onDisk = true;
  }
}
