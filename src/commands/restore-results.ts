import type { RestoreFileResult } from '../files/loose-file.js';
import type { RestoreReport } from '../files/restore-tree.js';
import type { ChainTally, ContinuationBase } from '../format/db-manifest.js';
import type { OutcomeOf, TargetTask } from './target-outcomes.js';

/** What restoring one database did: the `details` of its outcome, which `run` reads to continue or start its generation. */
export type DatabaseRestored =
  | {
      restored: false;
      /** `aside`: skipped by `--aside`; `exists`: kept by `--if-not-exists`; `no-backup`: none with `--if-replica-exists`. */
      reason: 'aside' | 'exists' | 'no-backup';
    }
  | {
      restored: true;
      snapshotId: string;
      /** The generation the snapshot belongs to: what the lineage pointer of `run`'s new generation names. */
      generation: string;
      path: string;
      segmentsApplied: number;
      transactionsApplied: number;
      /** ISO time: every transaction shipped up to it is restored. */
      restoredTo: string;
      bytes: number;
      wal: { epoch: number; frame: number } | null;
      incomplete?: string;
      /** What a new generation of `run` continues from (format 2), when the chain is short enough. */
      continuation?: { base: ContinuationBase; depth: number; chain?: ChainTally };
    };

/** What restoring one loose file did. */
export interface FileRestored {
  outcome: RestoreFileResult['kind'];
  /** For a download: whether the object carried persistd's checksum. */
  verified?: boolean;
}

/** One restore task: a database, a directory (its RestoreReport) or a loose file. */
export type RestoreTask = TargetTask<'db', DatabaseRestored> | TargetTask<'dir', RestoreReport> | TargetTask<'file', FileRestored>;

/** How the restore of one target fared; narrows by `kind` to its details type. */
export type RestoreTargetOutcome = OutcomeOf<RestoreTask>;
