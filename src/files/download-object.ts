import { createHash, randomBytes } from 'node:crypto';
import { fchmodSync, fstatSync, futimesSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { PersistdError } from '../errors.js';
import { decodeFileMetadata, type DecodedFileMetadata } from '../format/files-metadata.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { fetchObject, headRequired } from './fetch-object.js';
import { hashFile } from './hash-file.js';
import { siblingPath } from './local-name.js';
import { describeMasked, restoredMode } from './restore-mode.js';
import { writeSparse } from './sparse-write.js';
import { toLocalStat, type LocalStat } from './scan-tree.js';

/** How one object is downloaded. */
export interface DownloadOptions {
  /** fsync the temp file before the rename (default true; see docs/FORMAT.md on why). */
  fsync?: boolean;
  /** Objects larger than this are downloaded in parallel ranges (default 64 MiB). */
  rangeThresholdBytes?: number;
  /** Size of one range (default 16 MiB). */
  rangeSizeBytes?: number;
  /** Ranges in flight per large object (default 4). */
  rangeConcurrency?: number;
  /** Set setuid/setgid, and world-write without the sticky bit, as the object's metadata says (default: masked, `restoredMode`). */
  restoreSpecialModes?: boolean;
  signal?: AbortSignal;
}

/** What a verified download put on disk. */
export interface DownloadResult {
  local: LocalStat;
  sha256: string;
  etag: string;
  /** False when the object carried no persistd sha256 (written by another tool): only its size was checked. */
  verified: boolean;
  /** Invalid mtime or mode metadata, not used (the mtime left unset, the mode 0600). */
  metadataProblems: string[];
  /** Set when the mode was masked (`6777 -> 0775`). */
  modeMasked?: string;
}

/**
 * Downloads `key` to `dest` through a temp file beside it, checks size and sha256 against the object's
 * metadata, sets mode (masked, `restoredMode`) and mtime (never an invalid one), optionally fsyncs, then renames
 * into place. All-zero blocks are skipped, so a sparse file comes back sparse. On any mismatch the temp
 * file is removed and `dest` is untouched. `dest` is a Buffer for names that are not valid UTF-8.
 */
export async function downloadObject(
  store: ObjectStore,
  key: string,
  listedSize: number,
  dest: string | Buffer,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const threshold = options.rangeThresholdBytes ?? 64 * 1024 * 1024;
  const tmp = siblingPath(dest, `.persistd-dl-${randomBytes(6).toString('hex')}.part`);
  // One handle for writing, mode, mtime, fsync and stat: a restore of small files is bound by these calls.
  const fh = await open(tmp, 'wx', 0o600);
  let closed = false;
  try {
    let info: ObjectInfo;
    let got: { sha256: string; size: number };
    if (listedSize > threshold) {
      info = await headRequired(store, key, options.signal);
      got = await downloadRanges(store, key, info.size, fh, tmp, options);
    } else {
      const fetched = await fetchObject(store, key, options.signal);
      info = fetched.info;
      got = await writeBody(fetched.body, fh, options.signal);
    }
    const meta = decodeFileMetadata(info.metadata);
    const what = `restore of ${key.slice(key.lastIndexOf('/') + 1)} failed`;
    if (got.size !== info.size) {
      throw new PersistdError(`${what}: got ${got.size} bytes, the object has ${info.size}`, {
        kind: 'integrity',
        op: 'restore',
        path: key,
        hint: 'run the restore again; if it repeats, the remote object is damaged',
      });
    }
    if (meta !== undefined && got.sha256 !== meta.sha256) {
      throw new PersistdError(`${what}: sha256 does not match the object's metadata`, {
        kind: 'integrity',
        op: 'restore',
        path: key,
        hint: 'the remote object is damaged or was overwritten by another tool; the local file was left untouched',
      });
    }
    const used = meta ?? { mtimeMs: info.lastModified.getTime(), mode: 0o644, sha256: got.sha256, problems: [] };
    const mode = restoredMode(used.mode, options.restoreSpecialModes === true);
    const local = await finishFile(fh, used, mode, options.fsync ?? true);
    closed = true;
    await fh.close();
    await rename(tmp, dest);
    return {
      local,
      sha256: got.sha256,
      etag: info.etag,
      verified: meta !== undefined,
      metadataProblems: used.problems,
      ...(mode === (used.mode & 0o7777) ? {} : { modeMasked: describeMasked(used.mode, mode) }),
    };
  } catch (err) {
    if (!closed) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Sets mode and mtime, fsyncs if asked, and returns the file's stat as it will be after the rename. */
async function finishFile(fh: FileHandle, meta: DecodedFileMetadata, mode: number, fsync: boolean): Promise<LocalStat> {
  // Metadata-only calls, synchronous on the descriptor: their promise round trips cost more of the one
  // JavaScript thread than the calls (a restore of many small files is bound by it). The fsync stays off it.
  fchmodSync(fh.fd, mode);
  if (meta.mtimeMs !== undefined) {
    const seconds = meta.mtimeMs / 1000;
    futimesSync(fh.fd, seconds, seconds);
  }
  if (fsync) await fh.sync();
  return toLocalStat(fstatSync(fh.fd));
}

/** Writes the body through the handle, hashing it on the way. */
async function writeBody(body: AsyncIterable<unknown>, fh: FileHandle, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  let end = 0;
  for await (const chunk of body) {
    signal?.throwIfAborted();
    const buf = chunk as Buffer;
    hash.update(buf);
    end = await writeSparse(fh, buf, size);
    size += buf.length;
  }
  if (end < size) await fh.truncate(size); // zeros at the end were skipped: the file gets its length, as a hole
  return { sha256: hash.digest('hex'), size };
}

async function downloadRanges(
  store: ObjectStore,
  key: string,
  size: number,
  fh: FileHandle,
  tmp: string | Buffer,
  options: DownloadOptions,
): Promise<{ sha256: string; size: number }> {
  const rangeSize = options.rangeSizeBytes ?? 16 * 1024 * 1024;
  await fh.truncate(size);
  const starts: number[] = [];
  for (let s = 0; s < size; s += rangeSize) starts.push(s);
  const workers = Array.from({ length: Math.min(options.rangeConcurrency ?? 4, starts.length) }, async () => {
    for (let start = starts.shift(); start !== undefined; start = starts.shift()) {
      const end = Math.min(start + rangeSize, size) - 1;
      const body = await store.get(key, { range: { start, end }, signal: options.signal });
      let pos = start;
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        if (pos + buf.length > end + 1)
          throw new PersistdError(`restore of ${key} failed: range ${start}-${end} returned too many bytes`, {
            kind: 'integrity',
            op: 'restore',
            path: key,
          });
        await writeSparse(fh, buf, pos);
        pos += buf.length;
      }
      if (pos !== end + 1)
        throw new PersistdError(`restore of ${key} failed: range ${start}-${end} returned ${pos - start} bytes`, {
          kind: 'integrity',
          op: 'restore',
          path: key,
        });
    }
  });
  const settled = await Promise.allSettled(
    workers.map((w) =>
      w.catch((err: unknown) => {
        starts.length = 0; // stop the other workers at their next range
        throw err;
      }),
    ),
  );
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  // Ranges land out of order, so the checksum is taken by reading the finished file back.
  return hashFile(tmp, options.signal);
}
