import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { currentPointerKey, generationsPrefix, parseSnapshotKey } from '../../src/format/db-keys.js';
import { createRawS3Client } from '../../test/support/s3-server/raw-s3-client.js';
import type { ReplicaLocation } from './torture-sandbox.js';

/** What a replica says about one database's generations (docs/FORMAT.md, "Keys" and "Lineage pointer"). */
export interface ReplicaLineage {
  /** The lineage pointer's fields the torture needs, or undefined when there is none (or it does not parse). */
  pointer: { generation: string; pid: number; instanceStartedAt: number; takenAt: number } | undefined;
  /** Generations with at least one committed snapshot (a manifest under `gen/<generation>/snap/`), and how many. */
  committed: Map<string, number>;
}

/** Reads `db/<name>/current.json` and the snapshot manifests of `db/<name>/gen/`, straight from the store (not through persistd). */
export async function readReplicaLineage(replica: ReplicaLocation, name: string): Promise<ReplicaLineage> {
  const { pointerText, keys } = replica.kind === 'fs' ? readFsReplica(replica.root, name) : await readS3Replica(replica, name);
  const committed = new Map<string, number>();
  for (const key of keys) {
    const snap = parseSnapshotKey(key);
    if (snap?.kind === 'manifest' && snap.name === name) committed.set(snap.generation, (committed.get(snap.generation) ?? 0) + 1);
  }
  return { pointer: parsePointer(pointerText), committed };
}

function parsePointer(text: string | undefined): ReplicaLineage['pointer'] {
  if (text === undefined) return undefined;
  try {
    const p = JSON.parse(text) as { generation?: unknown; pid?: unknown; instanceStartedAt?: unknown; takenAt?: unknown };
    if (typeof p.generation !== 'string' || typeof p.pid !== 'number') return undefined;
    return {
      generation: p.generation,
      pid: p.pid,
      instanceStartedAt: Date.parse(String(p.instanceStartedAt)),
      takenAt: Date.parse(String(p.takenAt)),
    };
  } catch {
    return undefined;
  }
}

function readFsReplica(root: string, name: string): { pointerText: string | undefined; keys: string[] } {
  const keys: string[] = [];
  const walk = (key: string): void => {
    let entries;
    try {
      entries = readdirSync(join(root, key), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    // FsStore's temp files start with `.persistd~`: they are no keys.
    for (const e of entries) {
      if (e.name.startsWith('.persistd~')) continue;
      if (e.isDirectory()) walk(`${key}${e.name}/`);
      else keys.push(`${key}${e.name}`);
    }
  };
  walk(generationsPrefix(name));
  let pointerText: string | undefined;
  try {
    pointerText = readFileSync(join(root, currentPointerKey(name)), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { pointerText, keys };
}

async function readS3Replica(
  replica: Extract<ReplicaLocation, { kind: 's3' }>,
  name: string,
): Promise<{ pointerText: string | undefined; keys: string[] }> {
  const client = createRawS3Client(replica);
  try {
    const base = `${replica.prefix}/`;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: replica.bucket, Prefix: base + generationsPrefix(name), ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key.slice(base.length));
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return { pointerText: await getText(client, replica.bucket, base + currentPointerKey(name)), keys };
  } finally {
    client.destroy();
  }
}

async function getText(client: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await reply.Body!.transformToString('utf8');
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}
