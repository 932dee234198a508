import type { ScenarioReplica } from './replicas.js';
import { sha256 } from './state.js';

/** The newest snapshot's `createdAt` (ms since the epoch) of database `name` in the replica, or undefined when it has none. */
export async function newestSnapshotTime(replica: ScenarioReplica, name: string): Promise<number | undefined> {
  const manifests = (await replica.keys(`db/${name}/gen/`)).filter((key) => /\/snap\/[^/]+\.json$/.test(key));
  let newest: number | undefined;
  for (const key of manifests) {
    const body = await replica.get(key);
    if (!body) continue;
    const created = Date.parse((JSON.parse(body.toString()) as { createdAt: string }).createdAt);
    newest = newest === undefined ? created : Math.max(newest, created);
  }
  return newest;
}

/** Parses a FORMAT.md time id (`20261122T120000123Z`) into ms since the epoch. */
function parseTimeId(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(id);
  if (!m) throw new Error(`not a time id: ${id}`);
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7]));
}

/**
 * How recent the backup of database `name` is: the newest snapshot's `createdAt` or WAL segment's `<shippedAt>`
 * (docs/FORMAT.md: every transaction committed at or before a segment's shippedAt is in it or an earlier one).
 */
export async function newestBackupTime(replica: ScenarioReplica, name: string): Promise<number | undefined> {
  const snapshot = await newestSnapshotTime(replica, name);
  const segments = (await replica.keys(`db/${name}/gen/`))
    .map((key) => /\/wal\/\d{10}-\d{10}-\d{10}-(\d{8}T\d{9}Z)\.wal\.gz$/.exec(key)?.[1])
    .filter((id): id is string => id !== undefined)
    .map(parseTimeId);
  const all = [...(snapshot === undefined ? [] : [snapshot]), ...segments];
  return all.length === 0 ? undefined : Math.max(...all);
}

/** True when the object `key` exists and holds exactly the bytes whose sha256 is `digest`. */
export async function replicaHolds(replica: ScenarioReplica, key: string, digest: string): Promise<boolean> {
  const body = await replica.get(key);
  return body !== undefined && sha256(body) === digest;
}

/** True when every `relPath → sha256` of a protected directory named `tree` is in the replica with those bytes. */
export async function replicaHoldsTree(replica: ScenarioReplica, tree: string, digests: Record<string, string>): Promise<boolean> {
  for (const [relPath, digest] of Object.entries(digests)) {
    if (!(await replicaHolds(replica, `files/${tree}/${relPath}`, digest))) return false;
  }
  return true;
}
