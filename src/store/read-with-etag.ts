import type { ObjectStore } from './object-store.js';

/**
 * Reads a small object as text together with the ETag of exactly that content (HEAD, GET, HEAD again; a
 * change in between is read again, up to three times): what a conditional write on it must name.
 * Undefined when the object does not exist.
 */
export async function readTextWithEtag(
  store: ObjectStore,
  key: string,
  signal?: AbortSignal,
): Promise<{ text: string; etag: string } | undefined> {
  for (let attempt = 0; ; attempt++) {
    const info = await store.head(key, { signal });
    if (!info) return undefined;
    let text: string;
    try {
      const parts: Buffer[] = [];
      for await (const part of await store.get(key, { signal })) parts.push(part as Buffer);
      text = Buffer.concat(parts).toString('utf8');
    } catch (err) {
      if ((err as { name?: string }).name === 'NotFoundError' && attempt < 3) continue;
      throw err;
    }
    const after = await store.head(key, { signal });
    if (after?.etag !== info.etag && attempt < 3) continue;
    return { text, etag: info.etag };
  }
}
