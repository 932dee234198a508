import { randomBytes } from 'node:crypto';
import { PersistdError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { PreconditionFailedError } from '../store/store-errors.js';
import { PERSISTD_VERSION } from '../version.js';

/**
 * The replica format this persistd writes and the newest it can read (docs/FORMAT.md, "Format version").
 * Format 2 adds WAL segments that name where the previous WAL epoch ended; every format-1 replica stays readable.
 */
export const REPLICA_FORMAT = 2;

/** The key of the replica's format marker, at the root of the replica. */
export const REPLICA_MARKER_KEY = 'persistd.json';

/** The content of `persistd.json`. */
export interface ReplicaMarker {
  format: number;
  /**
   * Random id written once (format 2): what tells this replica from another at the same address (a bucket
   * emptied, deleted and created again). Local caches of the replica (the files indexes) are bound to it.
   */
  id?: string;
  createdBy: string;
  createdAt: string;
  /** Set when an older format's marker was raised to this format. */
  upgradedBy?: string;
  upgradedAt?: string;
  /** Present when the replica is encrypted (format 2): every object but the plaintext ones is an age file. */
  encryption?: ReplicaEncryption;
}

/** How a replica is encrypted (docs/FORMAT.md, "Encryption (format 2)"). */
export interface ReplicaEncryption {
  scheme: 'age';
  /** Fingerprints (recipientFingerprint()) of the recipients the replica was created with; never the keys. */
  recipients: string[];
  /**
   * Set when encryption was switched on for a replica that held plaintext: objects the store dated before
   * this time (ISO 8601, a whole second of the store's clock) may be plaintext; none after it.
   */
  plaintextBefore?: string;
  /** `plaintextBefore` and the replica id sealed for the recipients (an age file, base64), so that readers can trust it. */
  plaintextBeforeSeal?: string;
}

/** Reads the marker; undefined for a replica nothing was written to yet. Refuses a format this persistd cannot read. */
export async function readReplicaMarker(store: ObjectStore, signal?: AbortSignal): Promise<ReplicaMarker | undefined> {
  let body: Buffer;
  try {
    const stream = await store.get(REPLICA_MARKER_KEY, { signal });
    const parts: Buffer[] = [];
    for await (const part of stream) parts.push(part as Buffer);
    body = Buffer.concat(parts);
  } catch (err) {
    if ((err as { name?: string }).name === 'NotFoundError') return undefined;
    throw err;
  }
  let marker: Partial<ReplicaMarker>;
  try {
    marker = JSON.parse(body.toString('utf8')) as Partial<ReplicaMarker>;
  } catch {
    throw new PersistdError(`${store.description}/${REPLICA_MARKER_KEY} is not valid JSON`, {
      kind: 'integrity',
      op: 'read replica format',
      hint: 'the replica marker was damaged; if nothing else is wrong, delete it and persistd writes a new one',
    });
  }
  if (typeof marker.format !== 'number' || marker.format > REPLICA_FORMAT) {
    throw new PersistdError(
      `the replica uses format ${String(marker.format)}, written by ${marker.createdBy ?? 'an unknown persistd'}; this persistd ${PERSISTD_VERSION} reads format ${REPLICA_FORMAT}`,
      {
        kind: 'usage',
        op: 'read replica format',
        hint: 'upgrade persistd to the version that wrote this replica, or point --to at another prefix',
      },
    );
  }
  return marker as ReplicaMarker;
}

/**
 * Makes sure the replica carries a format marker this persistd writes: one is written (conditionally) if
 * there is none, and an older format's marker is raised to this format before anything of the newer
 * format is stored, so that an older persistd refuses the replica with its "newer format" message
 * instead of misreading it.
 */
export async function ensureReplicaMarker(store: ObjectStore, signal?: AbortSignal): Promise<ReplicaMarker> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await readReplicaMarker(store, signal);
    if (existing && existing.format >= REPLICA_FORMAT && typeof existing.id === 'string') return existing;
    const marker: ReplicaMarker = existing
      ? {
          ...existing,
          format: Math.max(existing.format, REPLICA_FORMAT),
          id: typeof existing.id === 'string' ? existing.id : newReplicaId(),
          upgradedBy: `persistd ${PERSISTD_VERSION}`,
          upgradedAt: new Date().toISOString(),
        }
      : { format: REPLICA_FORMAT, id: newReplicaId(), createdBy: `persistd ${PERSISTD_VERSION}`, createdAt: new Date().toISOString() };
    const condition = existing ? { ifMatch: (await store.head(REPLICA_MARKER_KEY, { signal }))?.etag } : { ifNoneMatch: '*' as const };
    if (existing && condition.ifMatch === undefined) continue;
    try {
      await store.put(REPLICA_MARKER_KEY, `${JSON.stringify(marker, null, 2)}\n`, {
        ...condition,
        contentType: 'application/json',
        signal,
      });
      return marker;
    } catch (err) {
      // Another instance wrote or raised it first: read theirs.
      if (!(err instanceof PreconditionFailedError)) throw err;
    }
  }
  return (
    (await readReplicaMarker(store, signal)) ?? {
      format: REPLICA_FORMAT,
      createdBy: `persistd ${PERSISTD_VERSION}`,
      createdAt: new Date().toISOString(),
    }
  );
}

function newReplicaId(): string {
  return randomBytes(16).toString('hex');
}
