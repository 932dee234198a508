import type { Logger } from 'pino';
import type { ObjectStore } from '../store/object-store.js';
import type { DeleteGuardOptions } from './delete-guard.js';
import type { FilesFence } from './files-fence.js';
import type { PathFilterOptions } from './path-filter.js';
import type { SyncStats } from './sync-queue.js';

/** Options of a TreeSync (one per protected directory). */
export interface TreeSyncOptions extends PathFilterOptions, DeleteGuardOptions {
  store: ObjectStore;
  /** Tree name: objects live under `files/<name>/`. */
  name: string;
  /** Local folder (created empty when missing; a file there is refused). */
  root: string;
  stateDir: string;
  /** Uploads in flight (default 16). */
  concurrency?: number;
  /** Quiet period before a changed file is uploaded (default 200 ms). */
  settleMs?: number;
  /** Longest wait for a file that never goes quiet and that no process holds open for writing (default 1000 ms; 0: none). */
  maxSettleMs?: number;
  /** How long a file must stay gone before its object is deleted (default 2000 ms). */
  deleteGraceMs?: number;
  /** Keep deleted objects in the trash this long (default 7 days; 0: delete outright). */
  keepDeletedMs?: number;
  /**
   * A restore in this process has just reconciled the index with the disk (`run`): every indexed file was on
   * disk when it ended, so one gone before the first scan was deleted by the app and is propagated (behind
   * the mass-delete guard), rather than taken for absence at startup.
   */
  restoredBeforeStart?: boolean;
  /** `run`: the files owner pointer shared by every tree; once another instance took it, writes go aside. */
  fence?: FilesFence;
  /** Full local rescan while watching, to catch missed events (default 5 min; 0: never). No requests unless something changed. */
  rescanIntervalMs?: number;
  /**
   * While watching, list the replica this often and upload again what is missing from it or was replaced
   * (default 1 h; 0: only at start). One LIST per 1,000 files; nothing else when nothing is missing.
   */
  reconcileIntervalMs?: number;
  logger?: Logger;
}

/** Counters and health of one TreeSync. */
export interface TreeSyncStatus extends SyncStats {
  label: string;
  watching: boolean;
  /** Changed paths waiting to settle. */
  settling: number;
  /** Vanished files waiting for the grace period, or held by the guard. */
  pendingDeletes: number;
  deletesPaused: boolean;
  deletedItems: number;
  /** Files in the index (known to be in the bucket). */
  indexed: number;
  /** Files in the replica by the last listing, kept current with this process's uploads and deletes (undefined: not listed). */
  inReplica: number | undefined;
  /** Index entries the last listings showed missing or replaced (re-uploaded when the local file exists), in total. */
  lostFromReplica: number;
  /** Another instance took over the files (`run`): changes are kept aside, deletes held. */
  fenced: boolean;
}

/** Options of one `syncOnce()` pass. */
export interface SyncOnceOptions {
  /**
   * One-shot backup: files in the index (put there by an earlier run, backup or restore) that are gone
   * locally are deleted remotely at once, although this process never saw them, behind the same
   * mass-delete guard. Never when the tree holds no file at all, never for excluded paths or paths under
   * an unreadable folder. Without it only files seen by this process and then gone are deleted.
   */
  deleteUnseen?: boolean;
  /**
   * List the replica first and drop the index entries it does not confirm (objects deleted or replaced
   * behind persistd's back), so this pass uploads them again. `backup` always does; `run` at start and
   * every `reconcileIntervalMs`.
   */
  reconcile?: boolean;
}
