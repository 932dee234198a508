import type { Logger } from 'pino';
import { messageOf, PersistdError } from '../../errors.js';
import { assertDatabaseName, newGenerationId } from '../../format/db-keys.js';
import { silentLogger } from '../../log/logger.js';
import type { ObjectStore } from '../../store/object-store.js';
import type { ChainTally, ContinuationBase } from '../../format/db-manifest.js';
import type { WalPosition } from '../../format/db-wal-position.js';
import { readFileIdentity, readFingerprint, sameIdentity, type DbFingerprint, type FileIdentity } from '../db-fingerprint.js';
import type { SnapshotEncoding } from '../snapshot-codec.js';
import { allocateTempPath, SNAPSHOT_TEMP_PREFIX, sqliteTempDir } from '../temp-files.js';
import { ChangedPages } from './changed-pages.js';
import { continuationAtPin } from './continuation-at-pin.js';
import { incrementAtPin } from './increment-at-pin.js';
import { SegmentSpool } from './segment-spool.js';
import { writeShippedState } from './shipped-state.js';
import { snapshotAtPin } from './snapshot-at-pin.js';
import { WalConnection } from './wal-connection.js';
import { WalPin } from './wal-pin.js';

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
  /** How full snapshots are compressed (default zstd; gzip writes format-1 snapshots, for tests of older replicas). */
  snapshotEncoding?: SnapshotEncoding;
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

/** The connections a shipper follows the database through, the pin, and which file they are open on. */
interface Link {
  conn: WalConnection;
  pin: WalPin;
  identity: FileIdentity;
}

/** Where the generation being written stands. */
interface Following {
  generation: string;
  /** Its newest restore point. */
  lastSeq: string;
  /** The chain that restore point ends: what decides between an increment and a full snapshot. */
  chain: ChainTally;
  /** The last segment stored after that restore point (undefined: none since). */
  lastSegmentEnd: { epoch: number; frame: number } | undefined;
}

/**
 * A shipper's lifecycle, one state at a time: `closed` (no connection; `next` says why the next
 * generation will start) → `open` (connections and pin, no generation yet) → `following` (writing a
 * generation) → `stopped`. A replaced file goes back to `closed`, a WAL restart persistd could not
 * follow back to `open`, each with the reason the next generation starts for.
 */
type Lifecycle =
  | { state: 'closed'; next: GenerationReason }
  | { state: 'open'; link: Link; next: GenerationReason }
  | { state: 'following'; link: Link; following: Following }
  | { state: 'stopped' };

/**
 * Ships one WAL-mode database continuously: committed WAL frames become compressed segments
 * under the current generation, at most one PUT per sync and none when nothing was committed.
 * A generation starts with a snapshot taken at the exact pinned WAL position; when the WAL is
 * restarted in a way persistd cannot follow frame by frame, the next sync starts a new one.
 * Its state is one `Lifecycle` value, replaced (never patched) by each transition.
 */
export class WalShipper {
  private readonly logger: Logger;
  private readonly spool: SegmentSpool;
  private life: Lifecycle = { state: 'closed', next: 'start' };
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** The restore to continue from, until the first generation starts (consumed then). */
  private continueFrom: ContinueFrom | undefined;
  private pages: ChangedPages | undefined;
  /** Segments stored in the current generation, newest last (bounded): to count what another instance lacks. */
  private readonly storedLog: { epoch: number; last: number; commits: number }[] = [];
  private readonly stats: WalShipperStatus;

  constructor(private readonly options: WalShipperOptions) {
    assertDatabaseName(options.name);
    this.logger = (options.logger ?? silentLogger()).child({ db: options.name });
    this.continueFrom = options.continueFrom;
    this.spool = new SegmentSpool({
      store: options.store,
      name: options.name,
      gzipLevel: options.gzipLevel ?? 1,
      maxSegmentBytes: options.maxSegmentBytes ?? 16 << 20,
    });
    this.stats = {
      name: options.name,
      generation: undefined,
      shipped: undefined,
      lastShippedAt: undefined,
      lagSeconds: 0,
      lagBytes: 0,
      segmentsStored: 0,
      transactionsStored: 0,
      bytesStored: 0,
      generationsStarted: 0,
      checkpoints: 0,
      pinned: false,
      caughtUp: true,
      lastError: undefined,
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
        const message = messageOf(err);
        if (message !== lastLogged) this.logger.error({ err: message }, 'WAL shipping failed; retrying every sync interval');
        lastLogged = message;
      }
      // A fixed rate, not a fixed pause: the time a sync takes does not add to the lag.
      if (this.life.state !== 'stopped') this.timer = setTimeout(() => void loop(), Math.max(0, interval - (Date.now() - started)));
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

  /**
   * Transactions this shipper stored in `generation` after WAL position `after` (epoch, frame):
   * what a restore to that position lacks. `atLeast` when the position is older than what it remembers.
   */
  transactionsAfter(generation: string, after: { epoch: number; frame: number } | null): { count: number; atLeast: boolean } {
    if (this.life.state !== 'following' || generation !== this.life.following.generation) return { count: 0, atLeast: false };
    const later = this.storedLog.filter(
      (s) => after === null || s.epoch > after.epoch || (s.epoch === after.epoch && s.last > after.frame),
    );
    const count = later.reduce((sum, s) => sum + s.commits, 0);
    return { count, atLeast: later.length === this.storedLog.length && this.storedLog.length === STORED_LOG_LIMIT };
  }

  /** A copy of the current status. */
  status(): WalShipperStatus {
    const oldest = this.spool.oldestNotBefore;
    const link = linkOf(this.life);
    const unread = link?.pin.unreadSince;
    return {
      ...this.stats,
      pinned: link?.conn.pinned ?? false,
      caughtUp: this.spool.length === 0 && !(link?.pin.behind ?? false),
      lagSeconds: Math.max(oldest ? (Date.now() - oldest.getTime()) / 1000 : 0, unread ? (Date.now() - unread.getTime()) / 1000 : 0),
      lagBytes: this.spool.bytes + (link?.pin.unreadBytes ?? 0),
    };
  }

  /**
   * Stops the loop, ships what is committed (unless `final: false`), and closes the connections; the
   * shipper is `stopped` for good. A final stop that shipped everything records what the file now is
   * in the state directory, so that a restart that kept the disk can continue this generation
   * (`keptDiskContinuation`).
   */
  async stop(options: { final?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    let shipped: { link: Link; following: Following } | undefined;
    try {
      if (options.final !== false && this.life.state === 'following') {
        await this.syncOnce({ signal: options.signal, drain: true });
        const life = this.life as Lifecycle;
        if (life.state === 'following' && this.spool.length === 0 && !life.link.pin.behind)
          shipped = { link: life.link, following: life.following };
      }
    } finally {
      await this.queue;
      linkOf(this.life)?.conn.close();
      this.life = { state: 'stopped' };
      await this.pages?.dispose();
      this.pages = undefined;
    }
    if (shipped) await this.recordShippedState(shipped.link, shipped.following);
  }

  private enqueue(request: SyncRequest): Promise<SyncResult> {
    const run = this.queue.then(() => this.sync(request, 0));
    this.queue = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      this.stats.lastError = { message: messageOf(err), at: new Date() };
      throw err;
    });
  }

  /** After a clean final stop: which replicated state the closed file is (best effort: without it a restart stores a full snapshot). */
  private async recordShippedState(link: Link, following: Following): Promise<void> {
    const { stateDir, name, path, store } = this.options;
    try {
      const identity = await readFileIdentity(path);
      if (identity === undefined || !sameIdentity(identity, link.identity)) return;
      await writeShippedState(stateDir, name, {
        v: 1,
        store: store.description,
        path,
        identity,
        fingerprint: await readFingerprint(path),
        base: {
          generation: following.generation,
          seq: following.lastSeq,
          wal: following.lastSegmentEnd ?? null,
          restoredTo: new Date().toISOString(),
        },
        chain: following.chain,
        at: new Date().toISOString(),
      });
    } catch (err) {
      this.logger.debug({ err: messageOf(err) }, 'could not record the shipped state; a restart stores a full snapshot');
    }
  }

  private async sync(request: SyncRequest, depth: number): Promise<SyncResult> {
    const { signal, drain } = request;
    if (this.life.state === 'stopped') {
      throw new PersistdError(`WAL shipping of ${this.options.path} was stopped`, {
        kind: 'internal',
        op: 'ship WAL',
        path: this.options.path,
      });
    }
    const opened = await this.open();
    if (opened !== undefined) return opened;
    let newGeneration: RestorePointStored | undefined;
    const life = this.life as Extract<Lifecycle, { state: 'open' | 'following' }>;
    if (life.state === 'open' || request.compaction) newGeneration = await this.storeRestorePoint(life, signal);
    const { pin } = (this.life as Extract<Lifecycle, { state: 'following' }>).link;
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
      this.logger.warn(
        'the WAL was restarted or truncated by another connection while persistd could not follow it; starting a new generation',
      );
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
    return { outcome: 'synced', ...this.takeFlushed(), ...(newGeneration ? { newGeneration } : {}) };
  }

  /** following → open: the WAL went where persistd cannot follow; the next sync starts a new generation. */
  private restartGeneration(request: SyncRequest, depth: number): Promise<SyncResult> {
    const link = linkOf(this.life);
    if (link) this.life = { state: 'open', link, next: 'wal-reset' };
    if (depth >= 2) {
      throw new PersistdError(`cannot follow the WAL of ${this.options.path}: it keeps being restarted by another connection`, {
        kind: 'internal',
        op: 'ship WAL',
        path: this.options.path,
        hint: 'an app that checkpoints with RESTART or TRUNCATE all the time defeats WAL shipping; persistd retries at the next sync',
      });
    }
    // The new generation starts with a full snapshot: it is the compaction point asked for, if one was.
    return this.sync({ ...request, compaction: false }, depth + 1);
  }

  private flushed = { segments: 0, frames: 0, bytes: 0 };

  /** What the flushes of this sync stored (and starts counting again). */
  private takeFlushed(): { segments: number; frames: number; bytes: number } {
    const flushed = this.flushed;
    this.flushed = { segments: 0, frames: 0, bytes: 0 };
    return flushed;
  }

  /** Stores the frames waiting in the spool into the generation being followed (nothing without one: a new generation's restore point holds them). */
  private async flush(signal: AbortSignal | undefined): Promise<void> {
    const life = this.life;
    if (life.state !== 'following') return;
    const stored = await this.spool.flush(life.following.generation, signal);
    for (const segment of stored) {
      this.stats.segmentsStored++;
      this.stats.transactionsStored += segment.commits;
      this.storedLog.push({ epoch: segment.epoch, last: segment.last, commits: segment.commits });
      if (this.storedLog.length > STORED_LOG_LIMIT) this.storedLog.shift();
      this.stats.bytesStored += segment.bytes;
      this.flushed.segments++;
      this.flushed.frames += segment.frames;
      this.flushed.bytes += segment.bytes;
    }
    const last = stored.at(-1);
    if (last === undefined) return;
    // Only while still following the same generation (flushes run inside the queue: nothing else moved it).
    this.life = { ...life, following: { ...life.following, lastSegmentEnd: { epoch: last.epoch, frame: last.last } } };
    this.stats.lastShippedAt = new Date();
    this.stats.shipped = life.link.pin.shippedPosition(this.spool.length);
  }

  /**
   * closed → open (or back to closed when the file was replaced): opens the connections when needed.
   * A result when there is nothing to ship from (no database, or not in WAL mode).
   */
  private async open(): Promise<SyncResult | undefined> {
    const identity = await readFileIdentity(this.options.path);
    const link = linkOf(this.life);
    if (link && !sameIdentity(identity, link.identity)) {
      this.logger.info('database file was replaced; starting a new generation');
      link.conn.close();
      this.life = { state: 'closed', next: 'file-replaced' };
    }
    const life = this.life;
    if (life.state !== 'closed') return undefined;
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
    const pin = new WalPin(conn, `${this.options.path}-wal`, this.spool, {
      checkpointFrames: this.options.checkpointFrames ?? 1000,
      truncateFrames: this.options.truncateFrames ?? 10_000,
      unpinAfterBlockedSyncs: this.options.unpinAfterBlockedSyncs ?? 2,
      maxReadBytes: this.options.maxSegmentBytes ?? 16 << 20,
      logger: this.logger,
    });
    this.life = { state: 'open', link: { conn, pin, identity }, next: life.next };
    return undefined;
  }

  /**
   * open → following: starts a generation with its first restore point (a continuation of the restored
   * state when it still is that state, else a full snapshot); following → following: a compaction
   * point in the current generation (an increment when due, else a full snapshot). Pinned exactly at
   * the end of the WAL, with every frame before the pin read and none after.
   */
  private async storeRestorePoint(
    life: Extract<Lifecycle, { state: 'open' | 'following' }>,
    signal: AbortSignal | undefined,
  ): Promise<RestorePointStored> {
    const { conn, pin } = life.link;
    const current = life.state === 'following' ? life.following : undefined;
    const reason: GenerationReason = life.state === 'open' ? life.next : 'requested';
    if (current) await this.flush(signal);
    else {
      this.spool.clear();
      this.storedLog.length = 0;
    }
    let position = await pin.pinExactly(current !== undefined);
    // Continuing the stream: what the pin's read found past the read bound is stored before trying again.
    for (let tries = 1; position === 'behind' && tries < MAX_READS_PER_SYNC; tries++) {
      await this.flush(signal);
      position = await pin.pinExactly(current !== undefined);
    }
    if (position === undefined || position === 'behind') {
      const why =
        position === 'behind'
          ? 'the app commits faster than persistd can read and store its WAL'
          : 'another connection kept the write lock';
      throw new PersistdError(`cannot snapshot ${this.options.path}: ${why}`, {
        kind: 'internal',
        op: 'snapshot',
        path: this.options.path,
        hint: 'persistd retries at the next sync',
      });
    }
    if (current) await this.flush(signal);
    // The flushes may have moved lastSegmentEnd: read the generation's state again.
    const before = this.life.state === 'following' ? this.life.following : undefined;
    const generation = before?.generation ?? newGenerationId(position.pinnedAt);
    // The first generation after a restore: one manifest naming the restored state, when the file is still exactly it.
    const from = before ? undefined : this.continueFrom;
    this.continueFrom = undefined;
    const notContinuing = from && (await this.whyNotContinue(from, position.wal));
    if (from && notContinuing)
      this.logger.info({ reason: notContinuing }, 'not continuing the restored generation; taking a full snapshot');
    const common = {
      store: this.options.store,
      name: this.options.name,
      generation,
      pinnedAt: position.pinnedAt,
      position: position.wal,
      logger: this.logger,
      signal,
    };
    const snap =
      from && !notContinuing
        ? await continuationAtPin(conn, { ...common, base: from.base, ...(from.chain ? { chain: from.chain } : {}) })
        : before && this.incrementDue(conn, before.chain)
          ? await incrementAtPin(conn, {
              ...common,
              stateDir: this.options.stateDir,
              baseSeq: before.lastSeq,
              pages: this.pages!,
              gzipLevel: this.options.gzipLevel,
              chainBefore: before.chain,
            })
          : await snapshotAtPin(conn, {
              ...common,
              path: this.options.path,
              stateDir: this.options.stateDir,
              previousSeq: before?.lastSeq,
              sealed: position.sealed,
              gzipLevel: this.options.gzipLevel,
              ...(this.options.snapshotEncoding ? { encoding: this.options.snapshotEncoding } : {}),
            });
    // The restore point holds every page recorded so far (nothing was read past the pin), and every segment before it.
    this.pages?.reset();
    const manifest = snap.manifest;
    const kind = manifest.kind === 'sqlite-increment' ? 'increment' : manifest.kind === 'sqlite-continuation' ? 'continuation' : 'full';
    // A continuation carries on the chain of the state it restored; a full snapshot starts a new one.
    const chain =
      manifest.kind === 'sqlite-snapshot'
        ? { fullAt: manifest.createdAt, increments: 0, pageBytes: 0 }
        : (manifest.chain ?? { fullAt: manifest.createdAt, increments: 0, pageBytes: 0 });
    this.life = { state: 'following', link: life.link, following: { generation, lastSeq: snap.seq, chain, lastSegmentEnd: undefined } };
    this.stats.generation = generation;
    if (!before) this.stats.generationsStarted++;
    const bytes = manifest.kind === 'sqlite-continuation' ? 0 : manifest.data.size;
    // A continuation uploads nothing of the database: `continues` names the restored state it starts from.
    const detail =
      manifest.kind === 'sqlite-continuation'
        ? { continues: `${manifest.base.generation}/${manifest.base.seq}`, uploaded: 0 }
        : manifest.kind === 'sqlite-increment'
          ? { pages: manifest.data.pages, uploaded: bytes, chain: manifest.chain.increments }
          : { inPlace: 'inPlace' in snap && snap.inPlace };
    const what = !before ? 'new generation started' : kind === 'increment' ? 'increment stored' : 'snapshot stored';
    this.logger.info({ snapshot: snap.snapshotId, reason, bytes: manifest.db.size, wal: position.wal, ...detail }, what);
    return { generation, reason, snapshotId: snap.snapshotId, kind, bytes };
  }

  /** Whether the requested compaction point can be an increment rather than a full snapshot. */
  private incrementDue(conn: WalConnection, chain: ChainTally): boolean {
    const share = this.options.fullSnapshotShare ?? 0.25;
    const intervalMs = this.options.fullSnapshotIntervalMs ?? 7 * 24 * 3600_000;
    const pages = this.pages;
    if (pages === undefined || !pages.complete || intervalMs <= 0 || chain.increments >= MAX_CHAIN_INCREMENTS) return false;
    if (Date.now() - Date.parse(chain.fullAt) >= intervalMs) return false;
    const { pageSize, pageCount } = conn.describe();
    return chain.pageBytes + pages.pageNumbers(pageCount).length * pageSize <= share * pageSize * pageCount;
  }

  /** Why the pinned database may not be the restored state (undefined: it is). */
  private async whyNotContinue(from: ContinueFrom, position: WalPosition): Promise<string | undefined> {
    if (position.epoch !== 0 || position.frame !== 0) return 'the database was written after the restore';
    const now = await readFingerprint(this.options.path);
    const then = from.fingerprint;
    if (now.size !== then.size || now.mtimeNs !== then.mtimeNs || now.changeCounter !== then.changeCounter)
      return 'the database file changed after the restore';
    return undefined;
  }
}

/** The connections of a lifecycle state that holds them. */
function linkOf(life: Lifecycle): Link | undefined {
  return life.state === 'open' || life.state === 'following' ? life.link : undefined;
}
