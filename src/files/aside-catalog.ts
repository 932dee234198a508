import { ASIDE_ROOT, asideRecordKey, type AsideRecord } from '../format/files-owner.js';
import type { ObjectStore } from '../store/object-store.js';
import { readText } from './dir-manifest.js';

/** What one fenced instance kept aside, as listed. */
export interface KeptAside {
  instance: string;
  /** From its record, when it could write one. */
  host: string | null;
  fencedAt: string | null;
  fencedBy: AsideRecord['fencedBy'] | null;
  files: number;
  bytes: number;
  newestAt: string | null;
}

/** Lists `files/.persistd/aside/`: one entry per fenced instance, newest first. */
export async function listKeptAside(store: ObjectStore, signal?: AbortSignal): Promise<KeptAside[]> {
  const byInstance = new Map<string, KeptAside>();
  for await (const info of store.list(ASIDE_ROOT, { signal })) {
    const rest = info.key.slice(ASIDE_ROOT.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const instance = rest.slice(0, slash);
    const entry = byInstance.get(instance) ?? { instance, host: null, fencedAt: null, fencedBy: null, files: 0, bytes: 0, newestAt: null };
    byInstance.set(instance, entry);
    if (info.key === asideRecordKey(instance)) continue;
    entry.files++;
    entry.bytes += info.size;
    const at = info.lastModified.toISOString();
    if (entry.newestAt === null || at > entry.newestAt) entry.newestAt = at;
  }
  for (const entry of byInstance.values()) {
    try {
      const record = JSON.parse(await readText(await store.get(asideRecordKey(entry.instance), { signal }))) as Partial<AsideRecord>;
      if (record.kind === 'files-aside') {
        entry.host = typeof record.host === 'string' ? record.host : null;
        entry.fencedAt = typeof record.fencedAt === 'string' ? record.fencedAt : null;
        entry.fencedBy = record.fencedBy ?? null;
      }
    } catch {
      // No record (it could not be written) or not readable: the listing still says what is there.
    }
  }
  return [...byInstance.values()].sort((a, b) => ((b.newestAt ?? '') < (a.newestAt ?? '') ? -1 : 1));
}
