import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { currentPointerKey } from '../format/db-keys.js';
import { LINEAGE_FORMAT, parseLineage, serializeLineage, type LineagePointer, type RestoredFrom } from '../format/db-lineage.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore, ObjectInfo } from '../store/object-store.js';
import { readTextWithEtag } from '../store/read-with-etag.js';
import { PERSISTD_VERSION } from '../version.js';

/** This process's identity in lineage pointers: one per `persistd run`. */
export interface InstanceIdentity {
  id: string;
  startedAt: Date;
}

/** A fresh instance identity for this process. */
export function newInstanceIdentity(now = new Date()): InstanceIdentity {
  return { id: randomBytes(8).toString('hex'), startedAt: now };
}

/** Reads `db/<name>/current.json`: the pointer and its ETag, or undefined when there is none. */
export async function readLineage(
  store: ObjectStore,
  name: string,
  signal?: AbortSignal,
): Promise<{ pointer: LineagePointer; etag: string } | undefined> {
  const key = currentPointerKey(name);
  const read = await readTextWithEtag(store, key, signal);
  return read && { pointer: parseLineage(read.text, key), etag: read.etag };
}

/** Options of a LineageGuard. */
export interface LineageGuardOptions {
  store: ObjectStore;
  name: string;
  instance: InstanceIdentity;
  logger?: Logger;
  /** Called once, when another instance is found holding the pointer. */
  onFenced?: (holder: LineagePointer) => void;
}

/**
 * Keeps one database's lineage pointer for this instance. The first claim of a process takes the
 * pointer from whoever holds it (unless that instance started later than this one: then this one is
 * fenced at once); every later claim and check only succeeds while the pointer is still the one this
 * instance wrote. Once fenced, it never writes the pointer again.
 */
export class LineageGuard {
  private readonly logger: Logger;
  private etag: string | undefined;
  private mine: LineagePointer | undefined;
  private fencedBy: LineagePointer | undefined;

  constructor(private readonly options: LineageGuardOptions) {
    this.logger = options.logger ?? silentLogger();
  }

  /** The instance that took the pointer from this one, when it happened. */
  get fenced(): LineagePointer | undefined {
    return this.fencedBy;
  }

  /** The generation this instance last claimed. */
  get generation(): string | undefined {
    return this.mine?.generation;
  }

  /**
   * Makes `generation` the live one. False when this instance is (or just became) fenced; conflicts
   * with an instance claiming at the same moment are retried, and the later claim wins.
   */
  claim(generation: string, restoredFrom: RestoredFrom | undefined, signal?: AbortSignal): Promise<boolean> {
    // One claim or check at a time: two of this instance's own writes must never race each other.
    return this.serialize(() => this.claimNow(generation, restoredFrom, signal));
  }

  private async claimNow(generation: string, restoredFrom: RestoredFrom | undefined, signal?: AbortSignal): Promise<boolean> {
    if (this.fencedBy) return false;
    const { store, name, instance } = this.options;
    const key = currentPointerKey(name);
    const pointer: LineagePointer = {
      format: LINEAGE_FORMAT,
      kind: 'lineage',
      database: name,
      generation,
      instance: instance.id,
      host: hostname(),
      pid: process.pid,
      instanceStartedAt: instance.startedAt.toISOString(),
      takenAt: new Date().toISOString(),
      restoredFrom: restoredFrom ?? null,
      createdBy: `persistd ${PERSISTD_VERSION}`,
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      let condition: { ifMatch: string } | { ifNoneMatch: '*' };
      if (this.etag !== undefined) {
        condition = { ifMatch: this.etag };
      } else {
        const current = await readLineage(store, name, signal);
        if (
          current &&
          current.pointer.instance !== instance.id &&
          Date.parse(current.pointer.instanceStartedAt) > instance.startedAt.getTime()
        ) {
          this.fence(current.pointer);
          return false;
        }
        condition = current ? { ifMatch: current.etag } : { ifNoneMatch: '*' };
      }
      let info: ObjectInfo;
      try {
        info = await store.put(key, serializeLineage(pointer), { ...condition, contentType: 'application/json', signal });
      } catch (err) {
        if ((err as { name?: string }).name !== 'PreconditionFailedError') throw err;
        // Lost reply of our own write (a retried conditional PUT fails on itself), or someone else wrote.
        const now = await readLineage(store, name, signal);
        if (now && now.pointer.instance === instance.id && now.pointer.takenAt === pointer.takenAt) {
          info = { key, etag: now.etag, size: 0, lastModified: new Date() };
        } else if (this.etag !== undefined && now && now.pointer.instance !== instance.id) {
          // It was ours and another instance took it: fenced.
          this.fence(now.pointer);
          return false;
        } else if (now && now.pointer.instance === instance.id) {
          // An older write of this same instance (whose reply was lost): continue from it.
          this.etag = now.etag;
          continue;
        } else {
          // A race with another instance's first claim, or the pointer was deleted: read it again.
          this.etag = undefined;
          continue;
        }
      }
      this.etag = info.etag;
      this.mine = pointer;
      this.logger.info({ generation, conditional: store.capabilities.conditionalWrites }, 'took the lineage pointer');
      return true;
    }
    this.logger.warn(
      'could not take the lineage pointer: it kept changing (another instance is claiming it too); retrying with the next generation',
    );
    return false;
  }

  /**
   * One HEAD: whether the pointer is still this instance's. Fences this instance when another one
   * took it. A pointer deleted by hand is taken again.
   */
  check(signal?: AbortSignal): Promise<'ours' | 'fenced' | 'unclaimed'> {
    return this.serialize(() => this.checkNow(signal));
  }

  private async checkNow(signal?: AbortSignal): Promise<'ours' | 'fenced' | 'unclaimed'> {
    if (this.fencedBy) return 'fenced';
    if (this.etag === undefined || this.mine === undefined) return 'unclaimed';
    const { store, name } = this.options;
    const info = await store.head(currentPointerKey(name), { signal });
    if (info?.etag === this.etag) return 'ours';
    if (!info) {
      this.etag = undefined;
      return (await this.claimNow(this.mine.generation, this.mine.restoredFrom ?? undefined, signal)) ? 'ours' : 'fenced';
    }
    const now = await readLineage(store, name, signal);
    if (now && now.pointer.instance === this.options.instance.id) {
      this.etag = now.etag;
      return 'ours';
    }
    if (now) this.fence(now.pointer);
    return now ? 'fenced' : 'unclaimed';
  }

  private queue: Promise<unknown> = Promise.resolve();

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private fence(holder: LineagePointer): void {
    if (this.fencedBy) return;
    this.fencedBy = holder;
    this.options.onFenced?.(holder);
  }
}
