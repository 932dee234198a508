import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import {
  asideRecordKey,
  FILES_OWNER_FORMAT,
  FILES_OWNER_KEY,
  parseFilesOwner,
  serializeOwnerJson,
  type AsideRecord,
  type FilesOwner,
} from '../format/files-owner.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { readTextWithEtag } from '../store/read-with-etag.js';
import { PreconditionFailedError } from '../store/store-errors.js';
import { PERSISTD_VERSION } from '../version.js';

/**
 * How long a check of the pointer is trusted while uploads keep coming (no check at all while idle):
 * an instance that took over within this window before a write does not stop that write from reaching
 * the live files (at most 4 HEADs a second while writing).
 */
const CHECK_EVERY_MS = 250;

/** Options of a FilesFence. */
export interface FilesFenceOptions {
  store: ObjectStore;
  /** This process (the same identity as in the databases' lineage pointers). */
  instance: { id: string; startedAt: Date };
  logger?: Logger;
  /** Called once, when another instance is found holding the pointer. */
  onFenced?: (holder: FilesOwner) => void;
}

/**
 * The files owner pointer for one `persistd run`: taken at start (unless an instance that started later
 * holds it), and checked before uploads and deletes (one HEAD, at most once a second, and only when
 * there is something to write). Once another instance took it, this one is fenced for good: its writes
 * go aside (`files/.persistd/aside/<instance>/`) and it never deletes in the live namespace.
 */
export class FilesFence {
  private readonly logger: Logger;
  private etag: string | undefined;
  private fencedBy: FilesOwner | undefined;
  private checkedAt = 0;
  private pending: Promise<boolean> | undefined;

  constructor(private readonly options: FilesFenceOptions) {
    this.logger = options.logger ?? silentLogger();
  }

  /** This process's instance id (names its aside prefix). */
  get instance(): string {
    return this.options.instance.id;
  }

  /** The instance that took the pointer from this one, if one did. */
  get fenced(): FilesOwner | undefined {
    return this.fencedBy;
  }

  /** Takes the pointer (at start). False when fenced; a store failure is logged and the next check claims again. */
  async claim(signal?: AbortSignal): Promise<boolean> {
    try {
      return await this.serialize(() => this.claimNow(signal));
    } catch (err) {
      this.logger.warn({ err: messageOf(err) }, 'could not take the files owner pointer; trying again before the next upload');
      return this.fencedBy === undefined;
    }
  }

  /**
   * Whether this instance may write the live namespace now. Re-checks the pointer when the last check is
   * older than a second; a failed check keeps the last answer (the store is failing anyway).
   */
  async live(signal?: AbortSignal): Promise<boolean> {
    if (this.fencedBy) return false;
    if (Date.now() - this.checkedAt < CHECK_EVERY_MS) return true;
    this.pending ??= this.serialize(() => this.checkNow(signal))
      .catch((err: unknown) => {
        this.logger.warn({ err: messageOf(err) }, 'could not check the files owner pointer');
        return this.fencedBy === undefined;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async claimNow(signal?: AbortSignal): Promise<boolean> {
    if (this.fencedBy) return false;
    const { store, instance } = this.options;
    const mine: FilesOwner = {
      format: FILES_OWNER_FORMAT,
      kind: 'files-owner',
      instance: instance.id,
      host: hostname(),
      pid: process.pid,
      instanceStartedAt: instance.startedAt.toISOString(),
      takenAt: new Date().toISOString(),
      createdBy: `persistd ${PERSISTD_VERSION}`,
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.read(signal);
      if (current && current.owner.instance !== instance.id && Date.parse(current.owner.instanceStartedAt) > instance.startedAt.getTime()) {
        await this.fence(current.owner, signal);
        return false;
      }
      try {
        const condition = current ? { ifMatch: current.etag } : { ifNoneMatch: '*' as const };
        const info = await store.put(FILES_OWNER_KEY, serializeOwnerJson(mine), { ...condition, contentType: 'application/json', signal });
        this.etag = info.etag;
        this.checkedAt = Date.now();
        this.logger.info({ conditional: store.capabilities.conditionalWrites }, 'took the files owner pointer');
        if (!store.capabilities.conditionalWrites) {
          this.logger.warn(
            'the store does not honour conditional writes: an overlapping instance is found by the check before each upload, not prevented',
          );
        }
        return true;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
        // Someone else wrote it between our read and our write (or our own reply was lost): read again.
      }
    }
    const now = await this.read(signal);
    if (now?.owner.instance === instance.id) {
      this.etag = now.etag;
      return true;
    }
    if (now) await this.fence(now.owner, signal);
    return false;
  }

  private async checkNow(signal?: AbortSignal): Promise<boolean> {
    if (this.fencedBy) return false;
    if (this.etag === undefined) return this.claimNow(signal);
    const info = await this.options.store.head(FILES_OWNER_KEY, { signal });
    if (info?.etag === this.etag) {
      this.checkedAt = Date.now();
      return true;
    }
    if (!info) return this.claimNow(signal); // deleted by hand: taken again
    const now = await this.read(signal);
    if (now && now.owner.instance === this.options.instance.id) {
      this.etag = now.etag;
      this.checkedAt = Date.now();
      return true;
    }
    if (now) await this.fence(now.owner, signal);
    return this.fencedBy === undefined;
  }

  private async read(signal?: AbortSignal): Promise<{ owner: FilesOwner; etag: string } | undefined> {
    const read = await readTextWithEtag(this.options.store, FILES_OWNER_KEY, signal);
    return read && { owner: parseFilesOwner(read.text), etag: read.etag };
  }

  private async fence(holder: FilesOwner, signal?: AbortSignal): Promise<void> {
    if (this.fencedBy) return;
    this.fencedBy = holder;
    const { store, instance } = this.options;
    const record: AsideRecord = {
      format: 1,
      kind: 'files-aside',
      instance: instance.id,
      host: hostname(),
      pid: process.pid,
      fencedAt: new Date().toISOString(),
      fencedBy: { instance: holder.instance, host: holder.host, takenAt: holder.takenAt },
    };
    await store
      .put(asideRecordKey(instance.id), serializeOwnerJson(record), { contentType: 'application/json', signal })
      .catch((err: unknown) => this.logger.warn({ err: messageOf(err) }, "could not record this instance's aside writes"));
    this.logger.error(
      { holder: { instance: holder.instance, host: holder.host, pid: holder.pid, takenAt: holder.takenAt } },
      `fenced: another persistd instance (${holder.host}, pid ${holder.pid}) took over the files and directories at ${holder.takenAt}; ` +
        `this instance's later changes to them are kept aside under ${asideRecordKey(instance.id).replace(/aside\.json$/, '')} and never replace the live ones ` +
        `(persistd restore --aside ${instance.id} brings them back on purpose)`,
    );
    this.options.onFenced?.(holder);
  }

  private queue: Promise<unknown> = Promise.resolve();

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
