import Database from 'better-sqlite3';
import { stat } from 'node:fs/promises';
import { PersistdError } from '../errors.js';
import { readFileIdentity, sameIdentity, type FileIdentity } from './db-fingerprint.js';
import { isBusyError, snapshotCopyError, sqliteOpenError } from './sqlite-errors.js';
import { WalImage } from './wal-image.js';

/** Page cache of the watching connection, in KiB. */
const PAGE_CACHE_KIB = 2048;

/** What a consistent copy saw: the state of the database inside the copy's read transaction. */
export interface CopyInfo {
  /** When the read transaction began: the copy holds every transaction committed before it. */
  startedAt: Date;
  pageSize: number;
  pageCount: number;
  journalMode: string;
  sqliteVersion: string;
}

/** Options of `LiveDatabase.copyTo`. */
export interface CopyOptions {
  signal?: AbortSignal;
  /** How long to keep retrying while another process holds a lock that keeps us from reading (default 60 s). */
  lockTimeoutMs?: number;
  /** Bytes copied per step between event-loop turns (default 4 MiB). */
  bytesPerStep?: number;
}

/**
 * A read-only connection to a database another process writes, held open for as long as persistd
 * watches it: `PRAGMA data_version` on it tells whether anyone committed since, and it takes
 * transaction-consistent copies with SQLite's online backup API. The connection has no busy timeout,
 * so nothing on it ever blocks the event loop waiting for a lock; waits are asynchronous retries.
 */
export class LiveDatabase {
  private constructor(
    readonly path: string,
    readonly identity: FileIdentity,
    private readonly db: Database.Database,
  ) {}

  /** Opens `path`; undefined when there is no database there yet (missing or empty file). */
  static async open(path: string): Promise<LiveDatabase | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = await readFileIdentity(path);
      if (before === undefined || (await stat(path)).size === 0) return undefined;
      let db: Database.Database;
      try {
        db = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'SQLITE_CANTOPEN' && (await readFileIdentity(path)) === undefined) return undefined;
        throw sqliteOpenError(err, path);
      }
      // The file may have been replaced between the stat and the open: then we hold the wrong one.
      if (sameIdentity(before, await readFileIdentity(path))) return new LiveDatabase(path, before, db);
      db.close();
    }
    throw new PersistdError(`cannot open ${path}: it keeps being replaced`, { kind: 'internal', op: 'open database', path });
  }

  /** Whether the path still names the file this connection has open. */
  async isCurrentFile(): Promise<boolean> {
    return sameIdentity(this.identity, await readFileIdentity(this.path));
  }

  /** `PRAGMA data_version`: changes whenever another connection commits; undefined when a lock keeps us from reading it now. */
  dataVersion(): number | undefined {
    try {
      return this.db.pragma('data_version', { simple: true }) as number;
    } catch (err) {
      if (isBusyError(err)) return undefined;
      throw sqliteOpenError(err, this.path);
    }
  }

  /**
   * Copies the database, transaction-consistent, to a new file at `dest`. The read transaction is
   * held for the whole copy so the backup never restarts however busy the writer is: in WAL mode it
   * blocks nobody; in rollback-journal mode writers wait for the copy (local disk speed), which is
   * why uploads happen afterwards from the copy, not under the lock.
   */
  async copyTo(dest: string, options: CopyOptions = {}): Promise<CopyInfo> {
    const { signal } = options;
    const startedAt = await this.beginRead(signal, options.lockTimeoutMs ?? 60_000);
    try {
      // A copy reads each page once: the default page cache (16 MiB in better-sqlite3's build) would
      // only hold memory for as long as persistd watches the database.
      this.db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      const journalMode = String(this.db.pragma('journal_mode', { simple: true }));
      assertSnapshotableJournalMode(journalMode, this.path);
      const pageSize = this.db.pragma('page_size', { simple: true }) as number;
      const pageCount = this.db.pragma('page_count', { simple: true }) as number;
      const sqliteVersion = this.db.prepare('SELECT sqlite_version()').pluck().get() as string;
      const pagesPerStep = Math.max(1, Math.floor((options.bytesPerStep ?? 4 << 20) / pageSize));
      await this.db
        .backup(dest, {
          progress: () => {
            if (signal?.aborted) throw signal.reason ?? new Error('aborted');
            return pagesPerStep;
          },
        })
        .catch((err: unknown) => {
          throw signal?.aborted ? err : snapshotCopyError(err, this.path, dest);
        });
      return { startedAt, pageSize, pageCount, journalMode, sqliteVersion };
    } catch (err) {
      if (signal?.aborted) throw err;
      throw sqliteOpenError(err, this.path);
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  /**
   * Opens the WAL-mode database's image for a snapshot read straight from its files (`WalImage`), no
   * copy on disk: the read transaction begins while a second connection holds the write lock for a
   * moment (waiting at most `lockWaitMs`, asynchronously), so the committed WAL frames read then are
   * exactly the ones it sees. Undefined (the caller copies with `copyTo`) when the database is not in
   * WAL mode, the lock stays taken, the file cannot be opened for writing, or the WAL is too long to
   * hold in memory. Call `release` when done: it ends the read transaction.
   */
  async openImage(lockWaitMs = 2000): Promise<{ image: WalImage; info: CopyInfo; release: () => void } | undefined> {
    let locker: Database.Database;
    try {
      if (String(this.db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return undefined;
      locker = new Database(this.path, { fileMustExist: true, timeout: 0 });
    } catch {
      return undefined;
    }
    try {
      const deadline = Date.now() + lockWaitMs;
      for (let wait = 1; ; wait = Math.min(wait * 2, 25)) {
        try {
          locker.exec('BEGIN IMMEDIATE');
          break;
        } catch (err) {
          if (!isBusyError(err) || Date.now() >= deadline) return undefined;
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      // Under the write lock, without an await: no commit between the read transaction's start and the WAL read.
      const startedAt = new Date();
      try {
        this.db.exec('BEGIN');
        this.db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
        const info: CopyInfo = {
          startedAt,
          journalMode: String(this.db.pragma('journal_mode', { simple: true })),
          pageSize: this.db.pragma('page_size', { simple: true }) as number,
          pageCount: this.db.pragma('page_count', { simple: true }) as number,
          sqliteVersion: this.db.prepare('SELECT sqlite_version()').pluck().get() as string,
        };
        const image = info.journalMode.toLowerCase() === 'wal' ? WalImage.capture(this.path, info.pageSize, info.pageCount) : undefined;
        if (image === undefined) {
          this.db.exec('COMMIT');
          return undefined;
        }
        const release = (): void => {
          image.close();
          if (this.db.inTransaction) this.db.exec('COMMIT');
        };
        return { image, info, release };
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        if (isBusyError(err)) return undefined;
        throw sqliteOpenError(err, this.path);
      }
    } finally {
      if (locker.inTransaction) locker.exec('ROLLBACK');
      locker.close();
    }
  }

  /** Closes the connection (never checkpoints: it is read-only). */
  close(): void {
    if (this.db.open) this.db.close();
  }

  private async beginRead(signal: AbortSignal | undefined, timeoutMs: number): Promise<Date> {
    const deadline = Date.now() + timeoutMs;
    let wait = 1;
    for (;;) {
      signal?.throwIfAborted();
      const startedAt = new Date();
      try {
        this.db.exec('BEGIN');
        // The first read takes the shared lock (rollback mode) or pins the WAL snapshot (WAL mode).
        this.db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
        return startedAt;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        if (!isBusyError(err)) throw sqliteOpenError(err, this.path);
        if (Date.now() >= deadline) {
          throw new PersistdError(`cannot read ${this.path}: the database stayed locked for ${Math.round(timeoutMs / 1000)} s`, {
            kind: 'internal',
            op: 'snapshot',
            path: this.path,
            cause: err,
            hint: 'another process holds a write lock that long (an exclusive locking_mode, or a stuck transaction); persistd retries at the next snapshot',
          });
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 25);
      }
    }
  }
}

/**
 * Refuses journal modes a consistent copy cannot be promised for. Note that `off` and `memory` are
 * settings of a connection, not of the file: persistd sees them only when the file says so.
 */
export function assertSnapshotableJournalMode(journalMode: string, path: string): void {
  const mode = journalMode.toLowerCase();
  if (mode === 'off' || mode === 'memory') {
    throw new PersistdError(`cannot back up ${path}: it uses journal_mode=${mode.toUpperCase()}`, {
      kind: 'usage',
      op: 'snapshot',
      path,
      hint: 'without a journal a crash of the app corrupts the database; switch it to WAL (PRAGMA journal_mode=WAL)',
    });
  }
}
