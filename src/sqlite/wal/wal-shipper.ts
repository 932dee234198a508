import type { Logger } from 'pino';
import { PersistdError } from '../../errors.js';
import { assertDatabaseName, newGenerationId } from '../../format/db-keys.js';
import { silentLogger } from '../../log/logger.js';
import type { ObjectStore } from '../../store/object-store.js';
import type { ChainTally, ContinuationBase } from '../../format/db-manifest.js';
import type { WalPosition } from '../../format/db-wal-position.js';
import { readFileIdentity, readFingerprint, sameIdentity, type DbFingerprint, type FileIdentity } from '../db-fingerprint.js';
import { allocateTempPath, SNAPSHOT_TEMP_PREFIX, sqliteTempDir } from '../temp-files.js';
import { ChangedPages } from './changed-pages.js';
import { continuationAtPin } from './continuation-at-pin.js';
import { incrementAtPin } from './increment-at-pin.js';
import { SegmentSpool } from './segment-spool.js';
import { writeShippedState } from './shipped-state.js';
import { snapshotAtPin } from './snapshot-at-pin.js';
import { WalConnection } from './wal-connection.js';
import { WalPin } from './wal-pin.js';
import { cursorOffset } from './wal-reader.js';

const STORED_LOG_LIMIT = 100_000;
/** Bounded reads (each up to `maxSegmentBytes`) one sync stores at most before leaving the rest to the next. */
const MAX_READS_PER_SYNC = 64;
/** Increments at most between two full snapshots, whatever the other limits say (bounds the objects a restore reads). */
const MAX_CHAIN_INCREMENTS = 2048;

/** Options of a WalShipper. */
export interface WalShipperOptions {
  store: ObjectStore;
  /** The database's name in the replica. */
  name: string;
  path: string;
  stateDir: string;
  logger?: Logger;
  /** Background loop period (default 1000 ms); `syncOnce()` works without the loop. */
  syncIntervalMs?: number;
  /** PASSIVE checkpoint once the WAL holds this many frames, everything shipped (default 1000). */
  checkpointFrames?: number;
  /** TRUNCATE checkpoint past this many frames, when PASSIVE checkpoints do not keep the WAL small (default 10000). */
  truncateFrames?: number;
  /** Consecutive syncs on which another connection held the write lock before persistd unpins the WAL to let it through (default 2). */
  unpinAfterBlockedSyncs?: number;
  gzipLevel?: number;
  /** Segments larger than this are split at frame boundaries of separate reads (default 16 MiB). */
  maxSegmentBytes?: number;
  /**
   * A requested compaction point stores the changed pages only (an increment, format 2) until the
   * increments since the last full snapshot add up to this share of the database (default 0.25)...
   */
  fullSnapshotShare?: number;
  /** ...or the last full snapshot is this old (default 7 days); 0 makes every compaction point a full snapshot. */
  fullSnapshotIntervalMs?: number;
  /**
   * The database was just restored from the replica: its first generation continues that state with a
   * continuation manifest instead of a full snapshot, when nothing touched the file since (format 2).
   */
  continueFrom?: ContinueFrom;
}

/** What a restore installed, for the first generation to continue from. */
export interface ContinueFrom {
  base: ContinuationBase;
  /** The chain of increments the restored state ends: the new generation's increments add to it. */
  chain?: ChainTally;
  /** The database file right after the restore installed it. */
  fingerprint: DbFingerprint;
}

/** What one queued sync is asked to do. */
interface SyncRequest {
  signal: AbortSignal | undefined;
  /** Go on until every committed frame is stored (the final backup). */
  drain: boolean;
  /** Store a compaction point at the end of the WAL (an increment or a full snapshot). */
  compaction: boolean;
}

/** Why a generation started. */
export type GenerationReason = 'start' | 'wal-reset' | 'file-replaced' | 'requested';

/** What one `syncOnce()` did. */
export type SyncResult =
  | { outcome: 'synced'; segments: number; frames: number; bytes: number; newGeneration?: RestorePointStored }
  | { outcome: 'missing' }
  | { outcome: 'not-wal'; journalMode: string };

/** A restore point a sync stored: the start of a generation, or a compaction point in it (a full snapshot or an increment). */
export interface RestorePointStored {
  generation: string;
  reason: GenerationReason;
  snapshotId: string;
  kind: 'full' | 'continuation' | 'increment';
  /** Bytes of the data object uploaded (0 for a continuation). */
  bytes: number;
}

/** A shipper's state for `status`, metrics and health checks. */
export interface WalShipperStatus {
  name: string;
  generation: string | undefined;
  /** Last shipped position: WAL epoch within the generation and frames of it stored. */
  shipped: { epoch: number; frame: number } | undefined;
  lastShippedAt: Date | undefined;
  /** Seconds since the oldest committed transaction that is not stored yet was known to exist (0 when caught up). */
  lagSeconds: number;
  /** WAL bytes read but not stored, plus WAL bytes not read yet (uncommitted tails included). */
  lagBytes: number;
  segmentsStored: number;
  /** Transactions stored in WAL segments by this shipper. */
  transactionsStored: number;
  bytesStored: number;
  generationsStarted: number;
  checkpoints: number;
  /** Whether the read transaction that pins the WAL is held. */
  pinned: boolean;
  /** Whether the last sync stored every frame committed before it (false: a burst left more than one sync stores). */
  caughtUp: boolean;
  lastError: { message: string; at: Date } | undefined;
}

/**
 * Ships one WAL-mode database continuously: committed WAL frames become compressed segments
 * under the current generation, at most one PUT per sync and none when nothing was committed.
 * A generation starts with a snapshot taken at the exact pinned WAL position; when the WAL is
 * restarted in a way persistd cannot follow frame by frame, the next sync starts a new one.
 */
export class WalShipper {
  private readonly logger: Logger;
  private readonly spool: SegmentSpool;
  private conn: WalConnection | undefined;
  private pin: WalPin | undefined;
  private identity: FileIdentity | undefined;
  private generation: string | undefined;
  private lastSeq: string | undefined;
  private nextReason: GenerationReason = 'start';
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private continueFrom: ContinueFrom | undefined;
  private lastFlush = { segments: 0, frames: 0, bytes: 0 };
  private pages: ChangedPages | undefined;
  /** The last segment stored after the generation's newest restore point (undefined: none since it). */
  private lastSegmentEnd: { epoch: number; frame: number } | undefined;
  /** The generation's chain since its last full snapshot or continuation: what decides between an increment and a full snapshot. */
  private chain: ChainTally = { fullAt: new Date(0).toISOString(), increments: 0, pageBytes: 0 };
  /** Segments stored in the current generation, newest last (bounded): to count what another instance lacks. */
  private readonly storedLog: { epoch: number; last: number; commits: number }[] = [];
  private readonly stats: WalShipperStatus;

  constructor(private readonly options: WalShipperOptions) {
    assertDatabaseName(options.name);
    this.logger = (options.logger ?? silentLogger()).child({ db: options.name });
    this.continueFrom = options.continueFrom;
    this.spool = new SegmentSpool({ store: options.store, name: options.name, gzipLevel: options.gzipLevel ?? 1, maxSegmentBytes: options.maxSegmentBytes ?? 16 << 20 });
    this.stats = {
      name: options.name, generation: undefined, shipped: undefined, lastShippedAt: undefined, lagSeconds: 0, lagBytes: 0,
      segmentsStored: 0, transactionsStored: 0, bytesStored: 0, generationsStarted: 0, checkpoints: 0, pinned: false, caughtUp: true, lastError: undefined,
    };
  }

  /** Starts the background loop (one sync every `syncIntervalMs`; errors are logged once and retried). */
  start(): void {
    const interval = this.options.syncIntervalMs ?? 1000;
    let lastLogged = '';
    const loop = async (): Promise<void> => {
      const started = Date.now();
      try {
        await this.syncOnce();
        lastLogged = '';
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (message !== lastLogged) this.logger.error({ err: message }, 'WAL shipping failed; retrying every sync interval');
        lastLogged = message;
      }
      // A fixed rate, not a fixed pause: the time a sync takes does not add to the lag.
      if (!this.stopped) this.timer = setTimeout(() => void loop(), Math.max(0, interval - (Date.now() - started)));
    };
    this.timer = setTimeout(() => void loop(), interval);
  }

  /**
   * Ships whatever was committed since the last sync (starting a generation first when needed). Calls
   * run one at a time. One sync stores at most 64 bounded reads; `drain` goes on until every committed
   * frame is stored (the final backup), as long as `signal` allows.
   */
  syncOnce(options: { signal?: AbortSignal; drain?: boolean } = {}): Promise<SyncResult> {
    return this.enqueue({ signal: options.signal, drain: options.drain === true, compaction: false });
  }

  /** Takes a compaction point in the current generation at the current WAL position (an increment or a full snapshot), after a sync. */
  snapshotOnce(options: { signal?: AbortSignal } = {}): Promise<SyncResult> {
    return this.enqueue({ signal: options.signal, drain: false, compaction: true });
  }

  private enqueue(request: SyncRequest): Promise<SyncResult> {
    const run = this.queue.then(() => this.sync(request, 0));
    this.queue = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      this.stats.lastError = { message: err instanceof Error ? err.message : String(err), at: new Date() };
      throw err;
    });
  }

  /**
   * Transactions this shipper stored in `generation` after WAL position `after` (epoch, frame):
   * what a restore to that position lacks. `atLeast` when the position is older than what it remembers.
   */
  transactionsAfter(generation: string, after: { epoch: number; frame: number } | null): { count: number; atLeast: boolean } {
    if (generation !== this.generation) return { count: 0, atLeast: false };
    const later = this.storedLog.filter((s) => after === null || s.epoch > after.epoch || (s.epoch === after.epoch && s.last > after.frame));
    const count = later.reduce((sum, s) => sum + s.commits, 0);
    return { count, atLeast: later.length === this.storedLog.length && this.storedLog.length === STORED_LOG_LIMIT };
  }

  /** A copy of the current status. */
  status(): WalShipperStatus {
    const oldest = this.spool.oldestNotBefore;
    const unread = this.pin?.unreadSince;
    const walBehind = this.pin?.cursor && this.pin.lastFileSize !== undefined ? Math.max(0, this.pin.lastFileSize - cursorOffset(this.pin.cursor)) : 0;
    return {
      ...this.stats,
      pinned: this.conn?.pinned ?? false,
      caughtUp: this.spool.length === 0 && !(this.pin?.behind ?? false),
      lagSeconds: Math.max(oldest ? (Date.now() - oldest.getTime()) / 1000 : 0, unread ? (Date.now() - unread.getTime()) / 1000 : 0),
      lagBytes: this.spool.bytes + walBehind,
    };
  }

  /**
   * Stops the loop, ships what is committed (unless `final: false`), and closes the connections. A final
   * stop that shipped everything records what the file now is in the state directory, so that a restart
   * that kept the disk can continue this generation (`keptDiskContinuation`).
   */
  async stop(options: { final?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    let drained = false;
    try {
      if (options.final !== false && this.generation !== undefined) {
        await this.syncOnce({ signal: options.signal, drain: true });
        drained = this.spool.length === 0 && !(this.pin?.behind ?? true);
      }
    } finally {
      await this.queue;
      this.closeConnection();
      await this.pages?.dispose();
      this.pages = undefined;
    }
    if (drained) await this.recordShippedState();
  }

  /** After a clean final stop: which replicated state the closed file is (best effort: without it a restart stores a full snapshot). */
  private async recordShippedState(): Promise<void> {
    const { stateDir, name, path, store } = this.options;
    try {
      const identity = await readFileIdentity(path);
      if (identity === undefined || !sameIdentity(identity, this.identity) || this.generation === undefined || this.lastSeq === undefined) return;
      await writeShippedState(stateDir, name, {
        v: 1, store: store.description, path, identity, fingerprint: await readFingerprint(path),
        base: { generation: this.generation, seq: this.lastSeq, wal: this.lastSegmentEnd ?? null, restoredTo: new Date().toISOString() },
        chain: this.chain, at: new Date().toISOString(),
      });
    } catch (err) {
      this.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'could not record the shipped state; a restart stores a full snapshot');
    }
  }

  private async sync(request: SyncRequest, depth: number): Promise<SyncResult> {
    const { signal, drain } = request;
    const opened = await this.openConnection();
    if (opened) return opened;
    const conn = this.conn!;
    let newGeneration: RestorePointStored | undefined;
    if (this.generation === undefined || request.compaction) newGeneration = await this.startGeneration(conn, request.compaction && this.generation !== undefined, signal);
    const pin = this.pin!;
    await this.flush(signal);
    let reset = pin.readAndProbe();
    // A burst larger than one read: store what was read, then read on (the rest waits in the pinned
    // WAL, so memory stays bounded by one read); a later sync goes on if this one reads its fill.
    for (let reads = 1; reset === 'ok' && pin.behind && (drain || reads < MAX_READS_PER_SYNC); reads++) {
      signal?.throwIfAborted();
      await this.flush(signal);
      reset = pin.readAndProbe();
    }
    if (reset === 'restarted') {
      await this.flush(signal);
      this.logger.warn('the WAL was restarted or truncated by another connection while persistd could not follow it; starting a new generation');
      return this.restartGeneration(request, depth);
    }
    // Only frames read in this sync wait in the spool (older ones were stored above, or this threw):
    // checkpointing now merges the frames read under the checkpoint's lock into the same segment.
    if (pin.checkpointDue()) {
      const done = pin.checkpoint();
      if (done) this.stats.checkpoints++;
    }
    await this.flush(signal);
    if (pin.restartNeeded) return this.restartGeneration(request, depth);
    const stored = this.lastFlush;
    this.lastFlush = { segments: 0, frames: 0, bytes: 0 };
    return { outcome: 'synced', ...stored, ...(newGeneration ? { newGeneration } : {}) };
  }

  private restartGeneration(request: SyncRequest, depth: number): Promise<SyncResult> {
    this.generation = undefined;
    this.nextReason = 'wal-reset';
    if (depth >= 2) {
      throw new PersistdError(`cannot follow the WAL of ${this.options.path}: it keeps being restarted by another connection`, {
        kind: 'internal', op: 'ship WAL', path: this.options.path,
        hint: 'an app that checkpoints with RESTART or TRUNCATE all the time defeats WAL shipping; persistd retries at the next sync',
      });
    }
    // The new generation starts with a full snapshot: it is the compaction point asked for, if one was.
    return this.sync({ ...request, compaction: false }, depth + 1);
  }

  private async flush(signal: AbortSignal | undefined): Promise<void> {
    const stored = await this.spool.flush(this.generation!, signal);
    for (const segment of stored) {
      this.stats.segmentsStored++;
      this.stats.transactionsStored += segment.commits;
      this.storedLog.push({ epoch: segment.epoch, last: segment.last, commits: segment.commits });
      if (this.storedLog.length > STORED_LOG_LIMIT) this.storedLog.shift();
      this.stats.bytesStored += segment.bytes;
      this.lastFlush.segments++;
      this.lastFlush.frames += segment.frames;
      this.lastFlush.bytes += segment.bytes;
      this.lastSegmentEnd = { epoch: segment.epoch, frame: segment.last };
    }
    if (stored.length > 0) {
      this.stats.lastShippedAt = new Date();
      this.stats.shipped = this.pin?.shippedPosition(this.spool.length);
    }
  }

  /** Opens the connections when needed; a result when there is nothing to ship from. */
  private async openConnection(): Promise<SyncResult | undefined> {
    const identity = await readFileIdentity(this.options.path);
    if (this.conn && !sameIdentity(identity, this.identity)) {
      this.logger.info('database file was replaced; starting a new generation');
      this.closeConnection();
      this.generation = undefined;
      this.nextReason = 'file-replaced';
    }
    if (this.conn) return undefined;
    if (identity === undefined) return { outcome: 'missing' };
    const conn = WalConnection.open(this.options.path);
    const journalMode = conn.journalMode();
    if (journalMode !== 'wal') {
      conn.close();
      return { outcome: 'not-wal', journalMode };
    }
    if (this.pages === undefined) {
      const file = allocateTempPath(await sqliteTempDir(this.options.stateDir), SNAPSHOT_TEMP_PREFIX, '.pages');
      this.pages = new ChangedPages(file);
      this.spool.trackPages(this.pages);
    }
    this.conn = conn;
    this.identity = identity;
    this.pin = new WalPin(conn, `${this.options.path}-wal`, this.spool, {
      checkpointFrames: this.options.checkpointFrames ?? 1000,
      truncateFrames: this.options.truncateFrames ?? 10_000,
      unpinAfterBlockedSyncs: this.options.unpinAfterBlockedSyncs ?? 2,
      maxReadBytes: this.options.maxSegmentBytes ?? 16 << 20,
      logger: this.logger,
    });
    return undefined;
  }

  /** Starts a generation (`continuing`: a compaction point in the current one instead) with a restore point at an exact pin. */
  private async startGeneration(conn: WalConnection, continuing: boolean, signal: AbortSignal | undefined): Promise<RestorePointStored> {
    const reason = this.nextReason;
    if (continuing) await this.flush(signal);
    else {
      this.spool.clear();
      this.storedLog.length = 0;
    }
    let position = await this.pin!.pinExactly(continuing);
    // Continuing the stream: what the pin's read found past the read bound is stored before trying again.
    for (let tries = 1; position === 'behind' && tries < MAX_READS_PER_SYNC; tries++) {
      await this.flush(signal);
      position = await this.pin!.pinExactly(continuing);
    }
    if (position === undefined || position === 'behind') {
      const why = position === 'behind' ? 'the app commits faster than persistd can read and store its WAL' : 'another connection kept the write lock';
      throw new PersistdError(`cannot snapshot ${this.options.path}: ${why}`, {
        kind: 'internal', op: 'snapshot', path: this.options.path, hint: 'persistd retries at the next sync',
      });
    }
    if (continuing) await this.flush(signal);
    const generation = continuing ? this.generation! : newGenerationId(position.pinnedAt);
    // The first generation after a restore: one manifest naming the restored state, when the file is still exactly it.
    const from = continuing ? undefined : this.continueFrom;
    this.continueFrom = undefined;
    const notContinuing = from && (await this.whyNotContinue(from, position.wal));
    if (from && notContinuing) this.logger.info({ reason: notContinuing }, 'not continuing the restored generation; taking a full snapshot');
    const common = { store: this.options.store, name: this.options.name, generation, pinnedAt: position.pinnedAt, position: position.wal, logger: this.logger, signal };
    const increment = continuing && this.lastSeq !== undefined && this.incrementDue(conn);
    const snap = from && !notContinuing ? await continuationAtPin(conn, { ...common, base: from.base, ...(from.chain ? { chain: from.chain } : {}) })
      : increment ? await incrementAtPin(conn, {
        ...common, stateDir: this.options.stateDir, baseSeq: this.lastSeq!, pages: this.pages!, gzipLevel: this.options.gzipLevel,
        chainBefore: this.chain,
      })
      : await snapshotAtPin(conn, {
        ...common, path: this.options.path, stateDir: this.options.stateDir, previousSeq: continuing ? this.lastSeq : undefined, gzipLevel: this.options.gzipLevel,
      });
    // The restore point holds every page recorded so far (nothing was read past the pin), and every segment before it.
    this.pages?.reset();
    this.lastSegmentEnd = undefined;
    const manifest = snap.manifest;
    const kind = manifest.kind === 'sqlite-increment' ? 'increment' : manifest.kind === 'sqlite-continuation' ? 'continuation' : 'full';
    // A continuation carries on the chain of the state it restored; a full snapshot starts a new one.
    this.chain = manifest.kind === 'sqlite-snapshot' ? { fullAt: manifest.createdAt, increments: 0, pageBytes: 0 }
      : manifest.chain ?? { fullAt: manifest.createdAt, increments: 0, pageBytes: 0 };
    this.generation = generation;
    this.lastSeq = snap.seq;
    this.stats.generation = generation;
    if (!continuing) this.stats.generationsStarted++;
    const bytes = manifest.kind === 'sqlite-continuation' ? 0 : manifest.data.size;
    // A continuation uploads nothing of the database: `continues` names the restored state it starts from.
    const detail = manifest.kind === 'sqlite-continuation' ? { continues: `${manifest.base.generation}/${manifest.base.seq}`, uploaded: 0 }
      : manifest.kind === 'sqlite-increment' ? { pages: manifest.data.pages, uploaded: bytes, chain: manifest.chain.increments } : {};
    const what = !continuing ? 'new generation started' : kind === 'increment' ? 'increment stored' : 'snapshot stored';
    this.logger.info({ snapshot: snap.snapshotId, reason, bytes: manifest.db.size, wal: position.wal, ...detail }, what);
    return { generation, reason: continuing ? 'requested' : reason, snapshotId: snap.snapshotId, kind, bytes };
  }

  /** Whether the requested compaction point can be an increment rather than a full snapshot. */
  private incrementDue(conn: WalConnection): boolean {
    const share = this.options.fullSnapshotShare ?? 0.25;
    const intervalMs = this.options.fullSnapshotIntervalMs ?? 7 * 24 * 3600_000;
    const pages = this.pages;
    if (pages === undefined || !pages.complete || intervalMs <= 0 || this.chain.increments >= MAX_CHAIN_INCREMENTS) return false;
    if (Date.now() - Date.parse(this.chain.fullAt) >= intervalMs) return false;
    const { pageSize, pageCount } = conn.describe();
    return this.chain.pageBytes + pages.pageNumbers(pageCount).length * pageSize <= share * pageSize * pageCount;
  }

  /** Why the pinned database may not be the restored state (undefined: it is). */
  private async whyNotContinue(from: ContinueFrom, position: WalPosition): Promise<string | undefined> {
    if (position.epoch !== 0 || position.frame !== 0) return 'the database was written after the restore';
    const now = await readFingerprint(this.options.path);
    const then = from.fingerprint;
    if (now.size !== then.size || now.mtimeNs !== then.mtimeNs || now.changeCounter !== then.changeCounter) return 'the database file changed after the restore';
    return undefined;
  }

  private closeConnection(): void {
    this.conn?.close();
    this.conn = undefined;
    this.pin = undefined;
  }
}
