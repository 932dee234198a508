import type { Logger } from 'pino';
import type { SnapshotDataInfo } from '../format/db-manifest.js';
import type { ObjectStore } from '../store/object-store.js';
import { uploadChunks } from './chunks/upload-chunks.js';
import { snapshotDataName, type SnapshotEncoding } from './snapshot-codec.js';
import type { ChunkSource } from './wal-image.js';
import { uploadCompressedFile } from './upload-compressed.js';

/** Options of `uploadSnapshotData`. */
export interface UploadSnapshotDataOptions {
  encoding: SnapshotEncoding;
  /** gzip or zstd level (default 1). */
  level?: number;
  /** Threads (zstd) or gzip members (gzip) compressing at once (default: one per core but one). */
  compressionConcurrency?: number;
  /** (tests) Write a zstd object without a chunk index, as persistd 0.2's first format-2 snapshots were. */
  unindexed?: boolean;
  signal?: AbortSignal;
  logger?: Logger;
}

/** The stored data object's manifest fields, and what the database file is. */
export interface StoredSnapshotData {
  data: SnapshotDataInfo;
  db: { size: number; sha256?: string };
}

/**
 * Uploads a snapshot's copy (a file, or a live image: always chunked zstd) as its data object `key` (`<seq>.db.zst` or `<seq>.db.gz`) and
 * returns the manifest fields that describe it: zstd with a chunk index (format 2, verified chunk by
 * chunk), or a gzip stream with the sha256 of the object and of the database (format 1).
 */
export async function uploadSnapshotData(
  store: ObjectStore,
  key: string,
  seq: string,
  from: string | ChunkSource,
  options: UploadSnapshotDataOptions,
): Promise<StoredSnapshotData> {
  const { encoding, signal, logger } = options;
  const name = snapshotDataName(seq, encoding);
  if (typeof from !== 'string' || (encoding === 'zstd' && options.unindexed !== true)) {
    const stored = await uploadChunks(store, key, from, {
      signal,
      logger,
      level: options.level,
      threads: options.compressionConcurrency,
    });
    return {
      data: { key: snapshotDataName(seq, 'zstd'), encoding: 'zstd', size: stored.size, chunks: stored.chunks },
      db: { size: stored.rawSize },
    };
  }
  const digests = await uploadCompressedFile(store, key, from, {
    signal,
    logger,
    level: options.level,
    compressionConcurrency: options.compressionConcurrency,
    encoding,
  });
  return {
    data: { key: name, encoding, size: digests.compressed.size, sha256: digests.compressed.sha256 },
    db: { size: digests.raw.size, sha256: digests.raw.sha256 },
  };
}
