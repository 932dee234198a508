import { constants, fstatSync, readSync, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { decodeFileMetadata, encodeFileMetadata } from '../format/files-metadata.js';
import type { ObjectStore } from '../store/object-store.js';
import { sha256Of } from './hash-file.js';
import { heldOpenForWriting } from './open-writers.js';
import type { IndexEntry } from './index-entry.js';
import type { ListedObject } from './replica-view.js';
import { toLocalStat } from './scan-tree.js';

/** Files up to this size are read once into memory (hash and upload from one read); larger ones stream twice. */
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;

/** Reads of a file handed over without a quiet period, before it goes back to waiting. */
const CONFIRM_ATTEMPTS = 8;

/** Result of one upload attempt. */
export type UploadOutcome =
  /** `changedSince`: the stored version is complete, but the file changed after it was read: go again once it settles. */
  | { kind: 'uploaded'; entry: IndexEntry; changedSince: boolean }
  /** Content and mode equal the indexed (or listed) object: only the index needed updating (e.g. `touch`, or a lost index). */
  | { kind: 'unchanged'; entry: IndexEntry }
  /** The file changed while it was read or uploaded: nothing was stored; let it settle and try again. */
  | { kind: 'unstable' }
  | { kind: 'gone' };

/** Options of one upload attempt. */
export interface UploadFileOptions {
  signal?: AbortSignal;
  /**
   * The file kept changing and was handed over without a quiet period: it is read twice, and stored only
   * when both reads agree byte for byte and no process held it open for writing right after them (an
   * in-place writer holds it open from its truncation to its last write, so a half-written state is refused).
   */
  confirm?: boolean;
  /**
   * The object a listing shows at the key, for a file the index does not know: when its size matches, one
   * HEAD compares its checksum and mode with the file's, and an equal object costs no PUT.
   */
  listed?: ListedObject;
  /** Whether to stat the file after the upload to tell a newer version (default true; a one-shot pass has no use for it). */
  checkNewer?: boolean;
  /** Whether a process holds the file open for writing (`undefined`: unknown); default: from /proc. */
  isBeingWritten?: (absPath: string | Buffer) => Promise<boolean | undefined>;
}

/** The fields that move whenever a file's content does (ctime too: it moves even where mtime is coarse or set back). */
function sameVersion(a: Stats, b: Stats): boolean {
  return (
    a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && (a.mode & 0o7777) === (b.mode & 0o7777)
  );
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
}

/** Opens a regular file for reading without following a symlink (and without blocking on a FIFO); undefined when it is not one. */
async function openRegular(path: string | Buffer): Promise<{ handle: FileHandle; stat: Stats } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  let stat: Stats;
  try {
    stat = fstatSync(handle.fd);
  } catch (err) {
    await handle.close();
    throw err;
  }
  if (stat.isFile()) return { handle, stat };
  await handle.close();
  return undefined;
}

/**
 * Reads `size` bytes (at most IN_MEMORY_LIMIT) from offset 0: one read for a file that is not growing.
 * Growth or truncation after the first stat shows in the stat taken after the read (`sameVersion`), or as
 * fewer bytes here. Synchronous on purpose, like the fstats around it: for small files the promise round
 * trips of the asynchronous calls cost more of the one JavaScript thread than the reads themselves.
 */
function readWhole(handle: FileHandle, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const bytesRead = readSync(handle.fd, buffer, filled, size - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/** Streams the whole file through sha256 from offset 0; returns the digest and the bytes read. */
async function hashWhole(handle: FileHandle, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of handle.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20, signal })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Passes bytes through while hashing them, always holding the last chunk back: if the bytes differ from
 * `expected` the stream fails before the store has received all of them, so no torn object is ever stored.
 */
class VerifyingTap extends Transform {
  mismatch = false;
  private readonly hash = createHash('sha256');
  private held: Buffer | undefined;

  constructor(private readonly expected: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    const previous = this.held;
    this.held = chunk;
    done(null, previous);
  }

  override _flush(done: TransformCallback): void {
    if (this.hash.digest('hex') !== this.expected) {
      this.mismatch = true;
      done(new Error('the file changed while it was uploaded'));
      return;
    }
    done(null, this.held);
  }
}

/**
 * Uploads `path` to `key` with mtime/mode/sha256 metadata. Only a consistent version is ever stored: the
 * file is read through one descriptor (a rename over it mid-read does not mix versions) and its
 * size, mtime and ctime must not move while it is read; a large file is hashed first and streamed
 * through a check that fails the upload if the bytes sent differ. Skips the PUT when the content hash and
 * mode equal `known` (an mtime-only change).
 */
export async function uploadFile(
  store: ObjectStore,
  key: string,
  path: string | Buffer,
  known: IndexEntry | undefined,
  options: UploadFileOptions = {},
): Promise<UploadOutcome> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await uploadOnce(store, key, path, known, options);
    if (outcome.kind !== 'caught-mid-write') return outcome;
    if (attempt === CONFIRM_ATTEMPTS) return { kind: 'unstable' };
    // A file that never goes quiet is caught between two rewrites sooner or later: try again at once, at a random moment.
    await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 20));
    options.signal?.throwIfAborted();
  }
}

/** One attempt; a small file that never goes quiet and was caught mid-rewrite is read again at once by the caller. */
async function uploadOnce(
  store: ObjectStore,
  key: string,
  path: string | Buffer,
  known: IndexEntry | undefined,
  options: UploadFileOptions,
): Promise<UploadOutcome | { kind: 'caught-mid-write' }> {
  const { signal } = options;
  const opened = await openRegular(path);
  if (opened === undefined) return { kind: 'gone' };
  const { handle, stat: before } = opened;
  try {
    let body: Buffer | undefined;
    let sha256: string;
    // open(O_TRUNC) empties the file before the writer has a descriptor (measured: up to 25 ms under load), so an
    // empty file that keeps changing is taken for a rewrite in progress; it is stored once it goes quiet.
    if (options.confirm === true && before.size === 0) return { kind: 'caught-mid-write' };
    if (before.size <= IN_MEMORY_LIMIT) {
      body = readWhole(handle, before.size);
      if (body.length !== before.size) return options.confirm === true ? { kind: 'caught-mid-write' } : { kind: 'unstable' };
      if (options.confirm === true && !body.equals(readWhole(handle, before.size))) return { kind: 'caught-mid-write' };
      sha256 = sha256Of(body);
    } else {
      const hashed = await hashWhole(handle, signal);
      if (hashed.size !== before.size) return { kind: 'unstable' };
      sha256 = hashed.sha256;
    }
    signal?.throwIfAborted();
    const unstable =
      options.confirm === true && body !== undefined ? ({ kind: 'caught-mid-write' } as const) : ({ kind: 'unstable' } as const);
    if (!sameVersion(before, fstatSync(handle.fd))) return unstable;
    if (options.confirm === true) {
      // A writer that truncated before our first stat and writes after our last one holds the file open all along;
      // one that closed in between has written, and its write shows in the stat.
      if ((await (options.isBeingWritten ?? heldOpenForWriting)(path).catch(() => undefined)) !== false) return unstable;
      if (!sameVersion(before, fstatSync(handle.fd))) return unstable;
    }
    const version = toLocalStat(before);
    if (known && known.sha256 === sha256 && known.mode === version.mode)
      return { kind: 'unchanged', entry: { ...version, sha256, etag: known.etag } };
    if (known === undefined && options.listed?.size === before.size) {
      const stored = await store.head(key, { signal });
      const meta = decodeFileMetadata(stored?.metadata);
      if (stored && meta && meta.problems.length === 0 && meta.sha256 === sha256 && meta.mode === version.mode) {
        return { kind: 'unchanged', entry: { ...version, sha256, etag: stored.etag } };
      }
    }

    const metadata = encodeFileMetadata({ mtimeMs: version.mtimeMs, mode: version.mode, sha256 });
    let etag: string;
    if (body !== undefined) etag = (await store.put(key, body, { metadata, signal })).etag;
    else {
      const tap = new VerifyingTap(sha256);
      const source = handle.createReadStream({ start: 0, end: before.size - 1, autoClose: false, highWaterMark: 1 << 20 });
      source.on('error', (err) => tap.destroy(err));
      const stream = source.pipe(tap);
      try {
        etag = (await store.put(key, stream, { metadata, contentLength: before.size, signal })).etag;
      } catch (err) {
        if (tap.mismatch) return { kind: 'unstable' };
        throw err;
      }
    }
    // The stored version is complete; a newer one (written in place, or renamed over the path) goes up once it settles.
    if (options.checkNewer === false) return { kind: 'uploaded', entry: { ...version, sha256, etag }, changedSince: false };
    const now = await lstat(path).catch(() => undefined);
    return { kind: 'uploaded', entry: { ...version, sha256, etag }, changedSince: now === undefined || !sameVersion(before, now) };
  } finally {
    await handle.close();
  }
}
