import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { PersistdError } from '../errors.js';
import { isPlaintextKey } from '../format/encrypted-keys.js';
import { FILES_ROOT, RESERVED_SEGMENT } from '../format/files-keys.js';
import type { ObjectInfo, ObjectStore } from './object-store.js';
import { buffer } from 'node:stream/consumers';
import { recipientFingerprint, type AgeRecipient } from '../crypto/age-keys.js';
import { REPLICA_MARKER_KEY, type ReplicaEncryption, type ReplicaMarker } from '../format/replica-marker.js';
import { sealPlaintextBefore, storeSecond } from './age-plaintext.js';
import { NotFoundError, PreconditionFailedError } from './store-errors.js';

/** How often the store's clock is read while waiting for its next second. */
const CLOCK_POLL_MS = 100;
/** Reads of the store's clock at most (about 5 s): a store whose dates stand still is refused. */
const CLOCK_POLLS = 50;

/**
 * A whole second of the store's clock that is later than every object stored before this call and earlier
 * than every object stored after it returns: the store dates a probe object, then again until its date
 * reaches the next whole second (S3 dates objects to the second). About a second of probe writes.
 */
export async function storeSecondAfterNow(inner: ObjectStore, signal?: AbortSignal): Promise<number> {
  const key = `probe/encryption-switch-${randomBytes(6).toString('hex')}`;
  const stamp = async (): Promise<number> => {
    await inner.put(key, '', { signal });
    const info = await inner.head(key, { signal });
    if (info === undefined) throw new Error(`the probe object ${key} vanished right after it was written`);
    return storeSecond(info.lastModified);
  };
  try {
    const next = (await stamp()) + 1000;
    for (let i = 0; i < CLOCK_POLLS; i++) {
      await delay(CLOCK_POLL_MS, undefined, { signal });
      if ((await stamp()) >= next) return next;
    }
    throw new PersistdError("the store's dates did not advance for 5 s: encryption cannot be switched on safely", {
      kind: 'storage',
      op: 'switch encryption on',
      hint: 'the store dates every object it keeps; check it with persistd doctor, or point --to at a new prefix for an encrypted replica',
    });
  } finally {
    await inner.delete([key]).catch(() => undefined);
  }
}

/** What recordSwitch() did: switched (the new marker and its plaintextBefore in ms), or nothing (the marker's bytes as they are, if any). */
export type SwitchOutcome = { kind: 'switched'; marker: ReplicaMarker; plaintextBefore: number } | { kind: 'unchanged'; marker?: Buffer };

/**
 * Records in the marker that the replica is encrypted from now on, when it holds plaintext (no `encryption`
 * field; an id, which ensureReplicaMarker() gives every format-2 marker): `plaintextBefore` is the store's
 * next second (storeSecondAfterNow()), sealed for `recipients`, written with a conditional write on the
 * marker read. Nothing happens to a replica without a marker (a new one is created encrypted) or already
 * encrypted.
 */
export async function recordSwitch(
  inner: ObjectStore,
  recipients: readonly AgeRecipient[],
  description: string,
  signal?: AbortSignal,
): Promise<SwitchOutcome> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const got = await inner.getWithInfo(REPLICA_MARKER_KEY, { signal }).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (got === undefined) return { kind: 'unchanged' };
    const bytes = await buffer(got.body);
    const marker = parseMarker(bytes);
    if (marker === undefined || marker.encryption !== undefined || typeof marker.id !== 'string')
      return { kind: 'unchanged', marker: bytes };
    const before = await storeSecondAfterNow(inner, signal);
    const plaintextBefore = new Date(before).toISOString();
    const encryption: ReplicaEncryption = {
      scheme: 'age',
      recipients: recipients.map((r) => recipientFingerprint(r)),
      plaintextBefore,
      plaintextBeforeSeal: sealPlaintextBefore(recipients, marker.id, plaintextBefore),
    };
    const next: ReplicaMarker = { ...marker, encryption };
    try {
      await inner.put(REPLICA_MARKER_KEY, `${JSON.stringify(next, null, 2)}\n`, {
        ifMatch: got.info.etag,
        contentType: 'application/json',
        signal,
      });
    } catch (err) {
      if (err instanceof PreconditionFailedError) continue; // another instance changed it: look again
      throw err;
    }
    return { kind: 'switched', marker: next, plaintextBefore: before };
  }
  throw new PersistdError(`could not switch encryption on for ${description}: its marker kept changing`, {
    kind: 'storage',
    op: 'switch encryption on',
    hint: 'another persistd is writing the replica marker at the same time; run again',
  });
}

function parseMarker(bytes: Buffer): ReplicaMarker | undefined {
  try {
    const marker = JSON.parse(bytes.toString('utf8')) as ReplicaMarker;
    return typeof marker === 'object' && marker !== null ? marker : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `key` is a live file object that a switch re-encrypts: a directory's file or folder manifest, or a
 * loose file. Trash copies (expire with --keep-deleted) and what fenced instances kept aside are left as they are.
 */
export function isLiveFileKey(key: string): boolean {
  if (!key.startsWith(FILES_ROOT) || isPlaintextKey(key)) return false;
  const [tree, second, third] = key.slice(FILES_ROOT.length).split('/');
  if (tree === undefined || tree.startsWith(RESERVED_SEGMENT)) return false;
  return !(second === RESERVED_SEGMENT && third === 'trash');
}

/** What a pass that re-encrypts plaintext file objects did. */
export interface ReencryptOutcome {
  /** Plaintext objects stored again, encrypted. */
  rewritten: number;
  /** Bytes of them. */
  bytes: number;
  /** Objects that changed while being rewritten (left to their newer, encrypted, version). */
  superseded: number;
  /** Failures, by key (the next pass tries again). */
  failed: { key: string; error: string }[];
}

/** Runs `each` over `items`, `width` at a time. */
export async function forEachLimited<T>(items: readonly T[], width: number, each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await each(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** The live file objects older than `plaintextBefore` (ms, a store second) in a listing: plaintext by their date. */
export async function plaintextFileObjects(store: ObjectStore, plaintextBefore: number, signal?: AbortSignal): Promise<ObjectInfo[]> {
  const found: ObjectInfo[] = [];
  for await (const info of store.list(FILES_ROOT, { signal })) {
    if (isLiveFileKey(info.key) && storeSecond(info.lastModified) < plaintextBefore) found.push(info);
  }
  return found;
}
