import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { messageOf, PersistdError } from '../errors.js';
import type { IncrementManifest } from '../format/db-manifest.js';
import { readPageRecords } from '../format/db-pages.js';
import type { ObjectStore } from '../store/object-store.js';
import type { GenerationSummary } from './generation-catalog.js';
import { storageError, type SnapshotEntry } from './snapshot-catalog.js';

/** Increments a restore follows at most down to the chain's full snapshot or continuation (a writer stores at most 2048). */
const MAX_INCREMENTS = 4096;
/** Compressed increment bytes downloaded ahead of the one being applied (one is always fetched, whatever its size). */
const AHEAD_BYTES = 32 << 20;

/**
 * The chain an increment restores through, from the listing alone (keys name bases): the restore
 * point it starts from (a full snapshot or a continuation), then every increment up to `entry`, in
 * order. Throws kind `integrity` when a base is missing or the chain is longer than any writer makes.
 */
export function incrementChain(
  name: string,
  generation: GenerationSummary,
  entry: SnapshotEntry,
): { root: SnapshotEntry; increments: SnapshotEntry[] } {
  const bySeq = new Map(generation.snapshots.map((e) => [e.seq, e]));
  const increments: SnapshotEntry[] = [];
  let current = entry;
  while (current.point === 'increment') {
    if (increments.length >= MAX_INCREMENTS) throw chainError(name, entry, `its chain has more than ${MAX_INCREMENTS} increments`);
    increments.push(current);
    const base = current.base && bySeq.get(current.base.seq);
    if (base === undefined)
      throw chainError(
        name,
        entry,
        `restore point ${current.generation}/${current.base?.seq ?? '?'} that ${current.id} applies on is missing`,
      );
    current = base;
  }
  return { root: current, increments: increments.reverse() };
}

/**
 * Applies increments in order to the database file `dest` (their chain's root state): each data object
 * is downloaded (a few ahead, bounded in bytes), checked against its manifest's size and sha256,
 * decompressed, and its pages written at their offsets; then the file is cut to the increment's page
 * count. A database that grew must get every new page from the increment. Throws kind `integrity` on
 * damage, kind `storage` when the store cannot deliver.
 */
export async function applyIncrements(
  dest: string,
  chain: readonly { entry: SnapshotEntry; manifest: IncrementManifest }[],
  options: { store: ObjectStore; name: string; signal?: AbortSignal },
): Promise<void> {
  const { store, name, signal } = options;
  const fetches: (Promise<Buffer> | undefined)[] = chain.map(() => undefined);
  let next = 0;
  const fetchAhead = (from: number): void => {
    let bytes = 0;
    for (next = Math.max(next, from); next < chain.length; next++) {
      const size = chain[next]!.manifest.data.size;
      if (next > from && bytes + size > AHEAD_BYTES) break;
      bytes += size;
      const link = chain[next]!;
      fetches[next] = download(store, name, link.entry, link.manifest, signal);
      fetches[next]!.catch(() => undefined);
    }
  };
  const handle = await open(dest, 'r+');
  try {
    for (let i = 0; i < chain.length; i++) {
      fetchAhead(i);
      const { entry, manifest } = chain[i]!;
      const compressed = await fetches[i]!;
      fetches[i] = undefined;
      await applyOne(handle, compressed, entry, manifest, name);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function applyOne(
  handle: FileHandle,
  compressed: Buffer,
  entry: SnapshotEntry,
  manifest: IncrementManifest,
  name: string,
): Promise<void> {
  const { pageSize, pageCount } = manifest.db;
  const before = Math.floor((await handle.stat()).size / pageSize);
  // SQLite never writes the page that holds the lock bytes (at 1 GiB): a database that grows past it lacks it.
  const lockBytePage = Math.floor(0x40000000 / pageSize) + 1;
  const skipLockPage = (n: number): number => (n === lockBytePage ? n + 1 : n);
  let nextNew = skipLockPage(before + 1);
  const what = `increment ${entry.id} of ${name}`;
  const records = readPageRecords(Readable.from([compressed]).pipe(createGunzip({ chunkSize: 1 << 20 })), {
    pageSize,
    pages: manifest.data.pages,
    maxPage: pageCount,
    what,
  });
  try {
    for await (const { pageNumber, data } of records) {
      if (pageNumber > before && pageNumber !== nextNew) break;
      if (pageNumber === nextNew) nextNew = skipLockPage(nextNew + 1);
      await handle.write(data, 0, pageSize, (pageNumber - 1) * pageSize);
    }
  } catch (err) {
    if (err instanceof PersistdError) throw err;
    throw chainError(name, entry, `its data object is not a complete gzip stream (${messageOf(err)})`);
  }
  if (pageCount > before && nextNew <= pageCount) {
    throw chainError(name, entry, `the database grows from ${before} to ${pageCount} pages and the increment lacks page ${nextNew}`);
  }
  await handle.truncate(pageCount * pageSize);
}

async function download(
  store: ObjectStore,
  name: string,
  entry: SnapshotEntry,
  manifest: IncrementManifest,
  signal?: AbortSignal,
): Promise<Buffer> {
  const key = entry.dataKey!;
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of await store.get(key, { signal })) chunks.push(chunk as Buffer);
  } catch (err) {
    throw storageError(err, `cannot download increment ${entry.id} of ${name}`, key);
  }
  const body = Buffer.concat(chunks);
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (body.length !== manifest.data.size || sha256 !== manifest.data.sha256) {
    throw chainError(
      name,
      entry,
      `its data object has ${body.length} bytes with sha256 ${sha256}, the manifest says ${manifest.data.size} bytes with sha256 ${manifest.data.sha256}`,
    );
  }
  return body;
}

function chainError(name: string, entry: SnapshotEntry, why: string): PersistdError {
  return new PersistdError(`cannot restore ${name} through increment ${entry.id}: ${why}`, {
    kind: 'integrity',
    op: 'restore',
    path: entry.manifestKey,
    hint: 'the chain of increments is not whole in the replica; restore an older snapshot with --snapshot <id>, or another generation with --generation (`persistd snapshots` lists them)',
  });
}
