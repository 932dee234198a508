import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { encodeFileMetadata } from '../format/files-metadata.js';
import type { ObjectStore } from '../store/object-store.js';
import { hashFile, sha256Of } from './hash-file.js';
import type { IndexEntry } from './local-index.js';
import { toLocalStat, type LocalStat } from './scan-tree.js';

/** Files up to this size are read once into memory (hash and upload from one read); larger ones stream twice. */
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;

/** Result of one upload attempt. */
export type UploadOutcome =
  | { kind: 'uploaded'; entry: IndexEntry }
  /** Content and mode equal the indexed object: only the index needed updating (e.g. `touch`). */
  | { kind: 'unchanged'; entry: IndexEntry }
  /** The file changed while it was read or uploaded: let it settle and try again. */
  | { kind: 'unstable' }
  | { kind: 'gone' };

function sameStat(a: LocalStat, b: LocalStat): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode;
}

async function statFile(path: string): Promise<LocalStat | undefined> {
  try {
    const st = await lstat(path);
    return st.isFile() ? toLocalStat(st) : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Uploads `path` to `key` with mtime/mode/sha256 metadata, checking that the file did not change while it
 * was read: stat before, stat after the read and after the upload. Skips the PUT when the content hash
 * and mode equal `known` (an mtime-only change).
 */
export async function uploadFile(store: ObjectStore, key: string, path: string, known: IndexEntry | undefined, signal?: AbortSignal): Promise<UploadOutcome> {
  const before = await statFile(path);
  if (before === undefined) return { kind: 'gone' };
  let body: Buffer | undefined;
  let sha256: string;
  if (before.size <= IN_MEMORY_LIMIT) {
    body = await readFile(path, { signal });
    sha256 = sha256Of(body);
    if (body.length !== before.size) return { kind: 'unstable' };
  } else {
    const hashed = await hashFile(path, signal);
    sha256 = hashed.sha256;
    if (hashed.size !== before.size) return { kind: 'unstable' };
  }
  const afterRead = await statFile(path);
  if (afterRead === undefined) return { kind: 'gone' };
  if (!sameStat(before, afterRead)) return { kind: 'unstable' };
  if (known && known.sha256 === sha256 && known.mode === before.mode) return { kind: 'unchanged', entry: { ...before, sha256, etag: known.etag } };

  const metadata = encodeFileMetadata({ mtimeMs: before.mtimeMs, mode: before.mode, sha256 });
  let info;
  if (body !== undefined) info = await store.put(key, body, { metadata, signal });
  else {
    // The second read is hashed too: if the bytes sent differ from the metadata's checksum, upload again.
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    const stream = createReadStream(path, { highWaterMark: 1 << 20, end: before.size - 1 }).pipe(tap);
    info = await store.put(key, stream, { metadata, contentLength: before.size, signal });
    if (hash.digest('hex') !== sha256) return { kind: 'unstable' };
  }
  const after = await statFile(path);
  if (after === undefined || !sameStat(before, after)) return { kind: 'unstable' };
  return { kind: 'uploaded', entry: { ...before, sha256, etag: info.etag } };
}
