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
