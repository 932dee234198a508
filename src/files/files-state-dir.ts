import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LOOSE_TREE } from '../format/files-keys.js';
import { readReplicaMarker, type ReplicaMarker } from '../format/replica-marker.js';
import type { ObjectStore } from '../store/object-store.js';
import { DEFAULT_RETRY_POLICY, retryTransient } from '../store/retry-policy.js';

/** Folders already resolved, per store: every tree of one command shares one GET of the marker. */
const resolved = new WeakMap<ObjectStore, Map<string, Promise<string>>>();
/** Markers a command already read or wrote through a store (`rememberReplicaMarker`): no second GET. */
const known = new WeakMap<ObjectStore, ReplicaMarker>();

/** Tells `filesStateDir` the marker a command just read or wrote through `store`, so it need not read it again. */
export function rememberReplicaMarker(store: ObjectStore, marker: ReplicaMarker): void {
  known.set(store, marker);
}

/**
 * `<stateDir>/files/<replica>`: where the local caches of files and directories (indexes, folder
 * manifests) live for this replica. `<replica>` is derived from the store's address and the id in its
 * `persistd.json`, so another bucket or prefix, or the same address emptied and written again, starts
 * from nothing instead of trusting what was stored elsewhere.
 */
export async function filesStateDir(stateDir: string, store: ObjectStore, signal?: AbortSignal): Promise<string> {
  let perStore = resolved.get(store);
  if (perStore === undefined) resolved.set(store, (perStore = new Map()));
  let dir = perStore.get(stateDir);
  if (dir === undefined) {
    dir = resolveFilesDir(stateDir, store, signal);
    perStore.set(stateDir, dir);
    dir.catch(() => perStore.delete(stateDir));
  }
  return dir;
}

async function resolveFilesDir(stateDir: string, store: ObjectStore, signal?: AbortSignal): Promise<string> {
  // Transient failures are retried here too: every tree's first pass depends on this one read.
  const marker =
    known.get(store) ?? (await retryTransient(() => readReplicaMarker(store, signal), DEFAULT_RETRY_POLICY, signal ? { signal } : {}));
  const digest = createHash('sha256')
    .update(`${store.description}\n${marker?.id ?? ''}`)
    .digest('hex');
  const dir = join(stateDir, 'files', `r-${digest.slice(0, 16)}`);
  if (!(await exists(dir))) await adoptUnboundCaches(join(stateDir, 'files'), dir);
  return dir;
}

/**
 * Moves the caches persistd 0.1 kept straight in `<stateDir>/files/` (bound to no replica) into the first
 * replica's folder. That is safe because every backup and `run` checks an index against a listing of
 * the replica before trusting it.
 */
async function adoptUnboundCaches(filesRoot: string, dir: string): Promise<void> {
  await mkdir(join(dir, LOOSE_TREE), { recursive: true });
  for (const [from, to] of [
    [filesRoot, dir],
    [join(filesRoot, LOOSE_TREE), join(dir, LOOSE_TREE)],
  ] as const) {
    const names = await readdir(from).catch(() => [] as string[]);
    for (const name of names) {
      if (name.endsWith('.index') || name.endsWith('.dirs.json')) await rename(join(from, name), join(to, name)).catch(() => undefined);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}
