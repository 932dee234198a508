import type { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DecompressStream } from 'zstd-napi';

/**
 * How a full snapshot's data object is compressed (docs/FORMAT.md, "Snapshot data"): `gzip` (format 1,
 * `<seq>.db.gz`, gzip members) or `zstd` (format 2, `<seq>.db.zst`, one zstd frame per MiB of the
 * database, concatenated). New snapshots use zstd: level 1 compresses about ten times faster than gzip
 * level 1 at a similar ratio and decompresses at memory speed, on every Node version (a native addon
 * built from source at install, like better-sqlite3).
 */
export type SnapshotEncoding = 'gzip' | 'zstd';

/** The encoding new snapshots are written with. */
export const SNAPSHOT_ENCODING: SnapshotEncoding = 'zstd';

/** The data object's file name, relative to the manifest's folder. */
export function snapshotDataName(seq: string, encoding: SnapshotEncoding): string {
  return `${seq}.db.${encoding === 'zstd' ? 'zst' : 'gz'}`;
}

/** A stream that decompresses a data object of this encoding (1 MiB at a time). */
export function snapshotDecompressor(encoding: SnapshotEncoding): Transform {
  return encoding === 'zstd' ? new DecompressStream() : createGunzip({ chunkSize: 1 << 20 });
}
