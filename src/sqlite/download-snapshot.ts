import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { messageOf, PersistdError } from '../errors.js';
import type { FullSnapshotManifest } from '../format/db-manifest.js';
import type { ObjectStore } from '../store/object-store.js';
import { snapshotDataKey } from '../format/db-keys.js';
import { StoreError } from '../store/store-errors.js';
import { storageError, type SnapshotEntry } from './snapshot-catalog.js';
import { snapshotDecompressor } from './snapshot-codec.js';
import { DigestStream } from './upload-compressed.js';
import { ChunkDownloadError, downloadChunks } from './chunks/download-chunks.js';

/**
 * Downloads a snapshot's data object into a new file `dest` (which must not exist), decompressing
 * it on the way, checks both sha256 and sizes against the manifest (a chunked object: each chunk's,
 * in parallel, `downloadChunks`), and fsyncs the file: `durable` resolves once it is on disk (for
 * a chunked snapshot the fsync runs while the caller checks the database). Throws
 * kind `integrity` when the bytes do not match (corrupt or truncated), kind `storage` when the
 * store cannot deliver them. The caller removes `dest` on failure.
 */
export async function downloadSnapshot(
  store: ObjectStore,
  name: string,
  entry: SnapshotEntry,
  manifest: FullSnapshotManifest,
  dest: string,
  signal?: AbortSignal,
): Promise<{ durable: Promise<void> }> {
  const encoding = manifest.data.encoding;
  const dataKey = snapshotDataKey(name, entry.generation, entry.seq, encoding);
  const integrity = (why: string, cause?: unknown): PersistdError =>
    new PersistdError(`snapshot ${entry.id} of ${name} does not verify: ${why}`, {
      kind: 'integrity',
      op: 'restore',
      path: dataKey,
      cause,
      hint: 'the stored snapshot is damaged; restore an older one with --snapshot <id> (`persistd snapshots` lists them)',
    });
  if (entry.compressedSize === undefined || entry.dataKey !== dataKey) {
    throw integrity(`its data object ${dataKey} is missing from the store`);
  }
  if (manifest.data.chunks !== undefined) {
    if (entry.compressedSize !== manifest.data.size) {
      throw integrity(`the data object has ${entry.compressedSize} bytes, the manifest says ${manifest.data.size}`);
    }
    const mapError = (err: unknown): never => {
      if (signal?.aborted || !(err instanceof ChunkDownloadError)) throw err;
      const { failure } = err;
      if (failure.kind === 'integrity') throw integrity(`chunk ${failure.chunk} of ${dataKey}: ${failure.why}`, err);
      if (failure.kind === 'write') throw localWriteError(failure.error, dest);
      throw storageError(failure.error, `cannot download snapshot ${entry.id} of ${name}`, dataKey);
    };
    const { durable } = await downloadChunks(store, dataKey, manifest.data, manifest.db.size, dest, { signal }).catch(mapError);
    return { durable: durable.catch(mapError) };
  }
  let body;
  try {
    body = await store.get(dataKey, { signal });
  } catch (err) {
    throw storageError(err, `cannot download snapshot ${entry.id} of ${name}`, dataKey);
  }
  const compressed = new DigestStream();
  const raw = new DigestStream();
  try {
    await pipeline(
      body,
      compressed,
      snapshotDecompressor(encoding),
      raw,
      createWriteStream(dest, { flags: 'wx', highWaterMark: 1 << 20 }),
      signal ? { signal } : {},
    );
  } catch (err) {
    if (signal?.aborted) throw err;
    if (err instanceof StoreError) throw storageError(err, `cannot download snapshot ${entry.id} of ${name}`, dataKey);
    const code = String((err as NodeJS.ErrnoException).code ?? '');
    if (code.startsWith('Z_') || code.startsWith('ERR_ZLIB'))
      throw integrity(`it is not a complete gzip stream (${(err as Error).message})`, err);
    if (encoding === 'zstd' && !(err instanceof StoreError) && !code.startsWith('E'))
      throw integrity(`it is not a complete zstd stream (${(err as Error).message})`, err);
    if (code.startsWith('E') && code !== 'ECONNRESET' && code !== 'ETIMEDOUT' && code !== 'EPIPE') throw localWriteError(err, dest);
    throw storageError(err, `cannot download snapshot ${entry.id} of ${name}`, dataKey);
  }
  const c = compressed.digest();
  const r = raw.digest();
  if (c.size !== manifest.data.size || c.sha256 !== manifest.data.sha256) {
    throw integrity(
      `the data object has ${c.size} bytes with sha256 ${c.sha256}, the manifest says ${manifest.data.size} bytes with sha256 ${manifest.data.sha256}`,
    );
  }
  if (r.size !== manifest.db.size || r.sha256 !== manifest.db.sha256) {
    throw integrity(
      `the database has ${r.size} bytes with sha256 ${r.sha256}, the manifest says ${manifest.db.size} bytes with sha256 ${manifest.db.sha256}`,
    );
  }
  try {
    const handle = await open(dest, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw localWriteError(err, dest);
  }
  return { durable: Promise.resolve() };
}

/** A failure to write the restored file locally (full disk, permissions); nothing in place was touched. */
export function localWriteError(err: unknown, path: string): PersistdError {
  const code = (err as NodeJS.ErrnoException).code;
  return new PersistdError(`cannot write ${path}: ${messageOf(err)}`, {
    kind: 'internal',
    op: 'restore',
    path,
    cause: err,
    hint:
      code === 'ENOSPC' || code === 'EDQUOT'
        ? 'the disk is full: free space (the restore needs the database size beside the target), then run it again'
        : 'check that the target directory exists and is writable',
  });
}
