import type { ObjectStore } from '../store/object-store.js';
import type { LocalIndex } from './local-index.js';
import type { TreeLayout } from './tree-layout.js';

/** What a listing says about one object: enough to tell it is still the one the index recorded. */
export interface ListedObject {
  etag: string;
  size: number;
}

/**
 * One set of files as the replica holds it, from a listing (one LIST per 1,000 keys), kept current by
 * this process's own uploads and deletes. It is what the summaries count, and what tells the local index
 * (a cache) which of its entries still describe a stored object.
 */
export class ReplicaView {
  private constructor(
    private readonly objects: Map<string, ListedObject>,
    /** Whether the set's folder manifest was listed (undefined: the set has none). */
    readonly dirsListed: boolean | undefined,
    /** When the listing was taken. */
    readonly listedAt: Date,
  ) {}

  /** Lists the set's objects now. */
  static async list(store: ObjectStore, layout: TreeLayout, signal?: AbortSignal): Promise<ReplicaView> {
    const objects = new Map<string, ListedObject>();
    const listedAt = new Date();
    let dirsListed = layout.dirs === undefined ? undefined : false;
    for await (const info of store.list(layout.listPrefix, { signal })) {
      if (layout.ownsKey(info.key)) objects.set(info.key, { etag: info.etag, size: info.size });
      else if (info.key === layout.dirs?.key) dirsListed = true;
    }
    return new ReplicaView(objects, dirsListed, listedAt);
  }

  /** Objects of the set in the replica. */
  get count(): number {
    return this.objects.size;
  }

  /** The listed object at `key`, if any. */
  get(key: string): ListedObject | undefined {
    return this.objects.get(key);
  }

  /** This process stored an object. */
  stored(key: string, object: ListedObject): void {
    this.objects.set(key, object);
  }

  /** This process deleted an object (it went to the trash, or away). */
  removed(key: string): void {
    this.objects.delete(key);
  }

  /**
   * Drops every index entry whose object the listing does not show with the ETag the index recorded
   * (deleted behind persistd's back, or replaced by another writer), so the next pass uploads the local
   * file again. Returns the paths dropped.
   */
  reconcile(index: LocalIndex, layout: TreeLayout): string[] {
    const dropped: string[] = [];
    for (const relPath of [...index.paths()]) {
      const listed = this.objects.get(layout.objectKey(relPath));
      if (listed !== undefined && listed.etag === index.get(relPath)!.etag) continue;
      index.delete(relPath);
      dropped.push(relPath);
    }
    return dropped;
  }
}
