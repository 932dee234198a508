import { closeSync, openSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { incrementDataKey, incrementManifestKey, nextSnapshotSeq, snapshotId } from '../../format/db-keys.js';
import { serializeManifest, type ChainTally, type IncrementManifest } from '../../format/db-manifest.js';
import { encodePageNumber, encodePagesHeader } from '../../format/db-pages.js';
import type { WalPosition } from '../../format/db-wal-position.js';
import type { ObjectStore } from '../../store/object-store.js';
import { PERSISTD_VERSION } from '../../version.js';
import { allocateTempPath, releaseTempPath, SNAPSHOT_TEMP_PREFIX, sqliteTempDir } from '../temp-files.js';
import { uploadCompressedFile } from '../upload-compressed.js';
import type { ChangedPages } from './changed-pages.js';
import type { WalConnection } from './wal-connection.js';

/** An increment manifest with the WAL position it holds everything up to. */
export type WalIncrementManifest = IncrementManifest & { wal: WalPosition };

/** Options of `incrementAtPin`. */
export interface IncrementAtPinOptions {
  store: ObjectStore;
  name: string;
  stateDir: string;
  generation: string;
  /** When the pin was taken: the increment holds every transaction committed before it. */
  pinnedAt: Date;
  /** The generation's previous restore point, which this increment applies on. */
  baseSeq: string;
  /** The chain before this increment (since its full snapshot, across continuations). */
  chainBefore: ChainTally;
  position: WalPosition;
  pages: ChangedPages;
  gzipLevel?: number;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Stores a compaction point that holds only what changed (format 2): every page written since the
 * previous restore point of the generation, as it is at the pinned WAL position (the newest committed
 * frame of each, recorded as the shipper read them), then the manifest that commits it. The caller
 * pinned exactly at `position` and read every frame up to it, and none after.
 */
export async function incrementAtPin(
  conn: WalConnection,
  options: IncrementAtPinOptions,
): Promise<{ manifest: WalIncrementManifest; snapshotId: string; seq: string }> {
  const { store, name, generation, signal } = options;
  const shape = conn.describe();
  const numbers = options.pages.pageNumbers(shape.pageCount);
  const temp = allocateTempPath(await sqliteTempDir(options.stateDir), SNAPSHOT_TEMP_PREFIX, '.inc');
  try {
    writePageRecords(temp, options.pages, numbers, shape.pageSize);
    const seq = nextSnapshotSeq(options.pinnedAt, options.baseSeq);
    const digests = await uploadCompressedFile(store, incrementDataKey(name, generation, seq), temp, {
      signal,
      logger: options.logger,
      level: options.gzipLevel,
    });
    const pageBytes = numbers.length * shape.pageSize;
    const manifest: WalIncrementManifest = {
      format: 2,
      kind: 'sqlite-increment',
      database: name,
      generation,
      seq,
      createdAt: options.pinnedAt.toISOString(),
      createdBy: `persistd ${PERSISTD_VERSION}`,
      base: { seq: options.baseSeq },
      data: {
        key: `${seq}.pages.gz`,
        encoding: 'gzip',
        size: digests.compressed.size,
        sha256: digests.compressed.sha256,
        pages: numbers.length,
      },
      db: {
        size: shape.pageSize * shape.pageCount,
        pageSize: shape.pageSize,
        pageCount: shape.pageCount,
        journalMode: 'wal',
        sqliteVersion: shape.sqliteVersion,
      },
      chain: {
        fullAt: options.chainBefore.fullAt,
        increments: options.chainBefore.increments + 1,
        pageBytes: options.chainBefore.pageBytes + pageBytes,
      },
      wal: options.position,
    };
    await store.put(incrementManifestKey(name, generation, seq, options.baseSeq), serializeManifest(manifest), {
      contentType: 'application/json',
      signal,
    });
    return { manifest, snapshotId: snapshotId(generation, seq), seq };
  } finally {
    await releaseTempPath(temp);
  }
}

/** Writes the uncompressed page-records body (docs/FORMAT.md, "Increments") of `numbers` into a new file. */
function writePageRecords(file: string, pages: ChangedPages, numbers: readonly number[], pageSize: number): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    let position = 0;
    const put = (buf: Buffer): void => {
      writeSync(fd, buf, 0, buf.length, position);
      position += buf.length;
    };
    put(encodePagesHeader(pageSize, numbers.length));
    const page = Buffer.alloc(pageSize);
    for (const n of numbers) {
      put(encodePageNumber(n));
      pages.read(n, page);
      put(page);
    }
  } finally {
    closeSync(fd);
  }
}
