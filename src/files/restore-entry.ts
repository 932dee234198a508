import { lstat } from 'node:fs/promises';
import { decodeFileMetadata } from '../format/files-metadata.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { downloadObject, type DownloadOptions } from './download-object.js';
import { headRequired } from './fetch-object.js';
import { hashFile } from './hash-file.js';
import type { IndexEntry } from './index-entry.js';
import type { LocalIndex } from './local-index.js';
import { toLocalStat } from './scan-tree.js';

/** What happened to one remote object during a restore. */
export type RestoreOutcome =
  /** `metadataProblems`: invalid mtime or mode metadata, not used; `modeMasked`: setuid/setgid or world-write dropped (`restoredMode`). */
  | { kind: 'downloaded'; bytes: number; verified: boolean; metadataProblems: string[]; modeMasked?: string }
  | { kind: 'skipped' }
  | { kind: 'conflict'; why: string };

/**
 * Restores one object to `dest` unless a local file is there: a matching local file is skipped (and
 * indexed), a different one is kept (local wins) and reported. Only a download fills the index from the object.
 */
export async function restoreEntry(
  store: ObjectStore,
  object: ObjectInfo,
  dest: string | Buffer,
  relPath: string,
  index: LocalIndex,
  options: DownloadOptions,
): Promise<RestoreOutcome> {
  const st = await lstat(dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (st === undefined) {
    const got = await downloadObject(store, object.key, object.size, dest, options);
    index.set(relPath, { ...got.local, sha256: got.sha256, etag: got.etag });
    return {
      kind: 'downloaded',
      bytes: got.local.size,
      verified: got.verified,
      metadataProblems: got.metadataProblems,
      ...(got.modeMasked === undefined ? {} : { modeMasked: got.modeMasked }),
    };
  }
  if (!st.isFile())
    return { kind: 'conflict', why: st.isSymbolicLink() ? 'a symlink is there locally' : 'something other than a file is there locally' };
  const local = toLocalStat(st);
  const known = index.get(relPath);
  if (known && known.etag === object.etag && known.size === local.size && known.mtimeMs === local.mtimeMs) return { kind: 'skipped' };
  if (local.size !== object.size)
    return { kind: 'conflict', why: `local file differs (${local.size} bytes locally, ${object.size} remotely)` };
  // Same size and unknown to the index: compare checksums (one HEAD; only for files that exist on both sides).
  const info = await headRequired(store, object.key, options.signal);
  const meta = decodeFileMetadata(info.metadata);
  const { sha256 } = await hashFile(dest, options.signal);
  if (meta === undefined || meta.sha256 !== sha256) return { kind: 'conflict', why: 'local file differs (same size, different content)' };
  const entry: IndexEntry = { ...local, sha256, etag: info.etag };
  index.set(relPath, entry);
  return { kind: 'skipped' };
}
