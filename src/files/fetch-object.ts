import type { ObjectInfo, ObjectStore, ObjectWithInfo } from '../store/object-store.js';
import { NotFoundError } from '../store/store-errors.js';

/** The object's info with metadata; one HEAD. Throws NotFoundError when it is gone. */
export async function headRequired(store: ObjectStore, key: string, signal?: AbortSignal): Promise<ObjectInfo> {
  const info = await store.head(key, { signal });
  if (info === undefined) throw new NotFoundError(key, { op: 'head' });
  return info;
}

/**
 * Body and metadata of one object from a single GET (no HEAD first): the metadata that verifies the
 * bytes comes with them, so a concurrent overwrite can never pair one version's bytes with another's checksum.
 */
export function fetchObject(store: ObjectStore, key: string, signal?: AbortSignal): Promise<ObjectWithInfo> {
  return store.getWithInfo(key, { signal });
}
