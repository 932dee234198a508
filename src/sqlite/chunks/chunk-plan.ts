import type { SnapshotChunks } from '../../format/db-manifest.js';

/** Where one chunk lies in the data object and in the database. */
export interface ChunkPlace {
  index: number;
  /** First byte of its zstd frame in the data object. */
  offset: number;
  compressed: number;
  /** First byte of its uncompressed bytes in the database file. */
  position: number;
  rawSize: number;
  sha256: string;
}

/** A run of consecutive chunks fetched with one ranged GET. */
export interface ChunkRun {
  chunks: ChunkPlace[];
}

/** The places of every chunk of an index over a database of `dbSize` bytes. */
export function chunkPlaces(index: SnapshotChunks, dbSize: number): ChunkPlace[] {
  let offset = 0;
  return index.compressed.map((compressed, i) => {
    const position = i * index.size;
    const place = {
      index: i,
      offset,
      compressed,
      position,
      rawSize: Math.min(index.size, dbSize - position),
      sha256: index.sha256[i]!,
    };
    offset += compressed;
    return place;
  });
}

/** Groups chunks in order into runs of about `runBytes` compressed bytes (at least one chunk each). */
export function chunkRuns(places: readonly ChunkPlace[], runBytes: number): ChunkRun[] {
  const runs: ChunkRun[] = [];
  let current: ChunkPlace[] = [];
  let bytes = 0;
  for (const place of places) {
    current.push(place);
    bytes += place.compressed;
    if (bytes >= runBytes) {
      runs.push({ chunks: current });
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) runs.push({ chunks: current });
  return runs;
}
