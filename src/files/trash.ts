import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import { encodeFileMetadata, META_DELETED_AT } from '../format/files-metadata.js';
import type { ObjectStore } from '../store/object-store.js';
import type { IndexEntry } from './index-entry.js';

/** Copies a live object to its trash key (server-side) before it is deleted, so `keepDeleted` can bring it back. */
export async function copyToTrash(
  store: ObjectStore,
  key: string,
  trashKey: string,
  entry: IndexEntry,
  deletedAt: Date,
  signal?: AbortSignal,
): Promise<void> {
  const metadata = { ...encodeFileMetadata(entry), [META_DELETED_AT]: deletedAt.toISOString() };
  await store.copy(key, trashKey, { metadata, signal });
}

/** Deletes trash copies older than `keepMs`; returns how many were purged. */
export async function purgeTrash(
  store: ObjectStore,
  prefix: string,
  parse: (key: string) => { deletedAt: Date } | undefined,
  keepMs: number,
  logger: Logger,
  signal?: AbortSignal,
): Promise<number> {
  const cutoff = Date.now() - keepMs;
  const expired: string[] = [];
  try {
    for await (const object of store.list(prefix, { signal })) {
      const parsed = parse(object.key);
      if (parsed && parsed.deletedAt.getTime() < cutoff) expired.push(object.key);
    }
    for (let i = 0; i < expired.length; i += 1000) await store.delete(expired.slice(i, i + 1000), { signal });
  } catch (err) {
    logger.warn({ prefix, err: messageOf(err) }, 'purging expired trash failed; will try again later');
    return 0;
  }
  return expired.length;
}
