import Database from 'better-sqlite3';
import { isBusyError, snapshotCopyError, sqliteOpenError } from '../sqlite-errors.js';

/** What `PRAGMA wal_checkpoint` reports. */
export interface CheckpointResult {
  /** 1 when the checkpoint could not finish (a lock it needed was held). */
  busy: number;
  /** Frames in the WAL when it ran. */
  log: number;
  /** Frames copied into the database file. */
  checkpointed: number;
}

/**
 * The shipper's two connections to a WAL database. `reader` holds the read transaction that pins
 * the WAL (while it is open no other connection can restart the WAL past the frames it saw) and
 * runs persistd's checkpoints; `locker` takes the write lock for the few milliseconds in which the
 * pin is moved, so that no commit happens between "everything read" and "pinned here". Neither
 * connection ever waits for a lock (busy timeout 0) nor checkpoints on its own (autocheckpoint 0).
 */
export class WalConnection {
  private constructor(
    private readonly reader: Database.Database,
    private readonly locker: Database.Database,
    readonly path: string,
  ) {}

  /** Opens both connections; the database must exist. */
  static open(path: string): WalConnection {
    const opened: Database.Database[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const db = new Database(path, { fileMustExist: true, timeout: 0 });
        opened.push(db);
        db.pragma('wal_autocheckpoint = 0');
        // Checkpoints persistd runs sync the WAL before and the database after, as the app's would.
        db.pragma('synchronous = NORMAL');
      }
      return new WalConnection(opened[0]!, opened[1]!, path);
    } catch (err) {
      for (const db of opened) db.close();
      throw sqliteOpenError(err, path);
    }
  }

  /** The database's journal mode as stored in the file (`wal` for the ones this class serves). */
  journalMode(): string {
    return String(this.locker.pragma('journal_mode', { simple: true })).toLowerCase();
  }

  /** Whether the read transaction is open. */
  get pinned(): boolean {
    return this.reader.inTransaction;
  }

  /** Opens the read transaction at the current end of the WAL; false when SQLite said busy (try again shortly). */
  pin(): boolean {
    if (this.reader.inTransaction) return true;
    try {
      this.reader.exec('BEGIN');
      // The first read is what takes the WAL read lock.
      this.reader.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
      return true;
    } catch (err) {
      if (this.reader.inTransaction) this.reader.exec('ROLLBACK');
      if (isBusyError(err)) return false;
      throw sqliteOpenError(err, this.path);
    }
  }

  /** Ends the read transaction (lets checkpoints and WAL restarts past it). */
  unpin(): void {
    if (this.reader.inTransaction) this.reader.exec('COMMIT');
  }

  /** `PRAGMA data_version` on the reader: changes when another connection commits (not when persistd checkpoints). */
  dataVersion(): number {
    return this.reader.pragma('data_version', { simple: true }) as number;
  }

  /**
   * Takes the database's write lock, waiting at most `waitMs` (SQLite's busy handler, which blocks
   * this thread: keep it to a few milliseconds); false when another connection kept it.
   */
  tryWriteLock(waitMs = 0): boolean {
    if (waitMs > 0) this.locker.pragma(`busy_timeout = ${Math.round(waitMs)}`);
    try {
      this.locker.exec('BEGIN IMMEDIATE');
      return true;
    } catch (err) {
      if (this.locker.inTransaction) this.locker.exec('ROLLBACK');
      if (isBusyError(err)) return false;
      throw sqliteOpenError(err, this.path);
    } finally {
      if (waitMs > 0) this.locker.pragma('busy_timeout = 0');
    }
  }

  /** Releases the write lock; nothing was written under it. */
  releaseWriteLock(): void {
    if (this.locker.inTransaction) this.locker.exec('ROLLBACK');
  }

  /**
   * Runs a checkpoint without waiting for locks: `on: 'locker'` (the pin stays, so only frames up to
   * it are copied), or `on: 'reader'` after the caller unpinned it.
   */
  checkpoint(mode: 'PASSIVE' | 'TRUNCATE', on: 'locker' | 'reader'): CheckpointResult {
    const db = on === 'locker' ? this.locker : this.reader;
    try {
      const rows = db.pragma(`wal_checkpoint(${mode})`) as CheckpointResult[];
      return rows[0] ?? { busy: 1, log: -1, checkpointed: -1 };
    } catch (err) {
      if (isBusyError(err)) return { busy: 1, log: -1, checkpointed: -1 };
      throw sqliteOpenError(err, this.path);
    }
  }

  /** The database's page size and page count as the pinned read transaction sees it, and the SQLite library's version. */
  describe(): { pageSize: number; pageCount: number; sqliteVersion: string } {
    return {
      pageSize: this.reader.pragma('page_size', { simple: true }) as number,
      pageCount: this.reader.pragma('page_count', { simple: true }) as number,
      sqliteVersion: this.reader.prepare('SELECT sqlite_version()').pluck().get() as string,
    };
  }

  /** Copies the database as the pinned read transaction sees it into a new file, about `bytesPerStep` per event-loop turn. */
  async backup(
    dest: string,
    bytesPerStep: number,
    signal?: AbortSignal,
  ): Promise<{ pageSize: number; pageCount: number; sqliteVersion: string }> {
    const pageSize = this.reader.pragma('page_size', { simple: true }) as number;
    const pageCount = this.reader.pragma('page_count', { simple: true }) as number;
    const sqliteVersion = this.reader.prepare('SELECT sqlite_version()').pluck().get() as string;
    const pagesPerStep = Math.max(1, Math.floor(bytesPerStep / pageSize));
    try {
      await this.reader.backup(dest, {
        progress: () => {
          if (signal?.aborted) throw signal.reason ?? new Error('aborted');
          return pagesPerStep;
        },
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw snapshotCopyError(err, this.path, dest);
    }
    return { pageSize, pageCount, sqliteVersion };
  }

  /** Closes both connections (SQLite checkpoints and removes the WAL when these were the last ones). */
  close(): void {
    this.releaseWriteLock();
    this.unpin();
    this.locker.close();
    this.reader.close();
  }
}
