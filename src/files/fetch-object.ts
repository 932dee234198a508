import type { Readable } from 'node:stream';
import type { GetOptions, ObjectInfo, ObjectStore } from '../store/object-store.js';
import { NotFoundError } from '../store/store-errors.js';

/** A store whose GET also returns the object's info and metadata (saves the HEAD a restore otherwise needs). */
interface StoreWithGetInfo {
  getWithInfo(key: string, options?: GetOptions): Promise<{ body: Readable; info: ObjectInfo }>;
}

function hasGetWithInfo(store: ObjectStore): store is ObjectStore & StoreWithGetInfo {
  return typeof (store as Partial<StoreWithGetInfo>).getWithInfo === 'function';
}

/** The object's info with metadata; one HEAD. Throws NotFoundError when it is gone. */
export async function headRequired(store: ObjectStore, key: string, signal?: AbortSignal): Promise<ObjectInfo> {
  const info = await store.head(key, { signal });
  if (info === undefined) throw new NotFoundError(key, { op: 'head' });
  return info;
}

/**
 * Body and metadata of one object: a single GET when the store can return metadata with the body,
 * else HEAD then GET (a concurrent overwrite between the two shows up as a checksum mismatch, never as bad data).
 */
export async function fetchObject(store: ObjectStore, key: string, signal?: AbortSignal): Promise<{ body: Readable; info: ObjectInfo }> {
  if (hasGetWithInfo(store)) return store.getWithInfo(key, { signal });
  const info = await headRequired(store, key, signal);
  const body = await store.get(key, { signal });
  return { body, info };
}
