import type { Logger } from 'pino';
import { PersistdError, usageError } from '../errors.js';
import { generationTime } from '../format/db-keys.js';
import type { SnapshotManifest } from '../format/db-manifest.js';
import type { ObjectStore } from '../store/object-store.js';
import { readLineage } from './lineage-guard.js';
import {
  latestGeneration,
  scanGenerations,
  type DatabaseCatalog,
  type GenerationSummary,
  type StoredSegment,
} from './generation-catalog.js';
import { readManifest, type SnapshotEntry } from './snapshot-catalog.js';

/** What to restore: the latest state, the state at a time, a generation's state, or one snapshot alone. */
export interface RestorePointChoice {
  /** The last transaction shipped (or snapshot taken) at or before this time. */
  timestamp?: Date;
  /** Only this generation (`<time id>-<8 hex>`). */
  generation?: string;
  /** Exactly this snapshot, without the WAL segments after it (`<generation>/<seq>`, or a unique `<seq>`). */
  snapshotId?: string;
  /** The lineage pointer's generation: when it has a restorable state (at or before `timestamp`), it is "the latest". */
  preferredGeneration?: string;
}

/** Where a restore starts and what it may apply after. */
export interface RestorePoint {
  /** The snapshot to start from, with its validated manifest. */
  entry: SnapshotEntry;
  manifest: SnapshotManifest;
  /** The generation it belongs to, as listed. */
  generation: GenerationSummary;
  /** The segments of that generation to consider after the snapshot (none when one snapshot was asked for by id). */
  segments: StoredSegment[];
  /** Set when the lineage pointer named a generation the store cannot restore, so another was chosen: what and why. */
  notice?: string;
}

/**
 * Chooses where a restore starts, from one listing plus the chosen manifest: the given snapshot
 * alone; else the newest snapshot at or before `timestamp` of the given generation, or of the
 * latest one (`latestGeneration`: the preferred generation when it has a state there, else the one
 * whose newest restorable point is newest), followed by that generation's segments. Undefined when
 * nothing matches. `catalog`: the listing when it was started earlier.
 */
export async function chooseRestorePoint(
  store: ObjectStore,
  name: string,
  choice: RestorePointChoice,
  signal?: AbortSignal,
  catalog?: Promise<DatabaseCatalog>,
): Promise<RestorePoint | undefined> {
  if (choice.snapshotId !== undefined && (choice.timestamp !== undefined || choice.generation !== undefined)) {
    throw usageError(
      '--snapshot names one snapshot; it cannot be combined with --timestamp or --generation',
      'give --snapshot alone, or --timestamp and/or --generation',
    );
  }
  if (choice.generation !== undefined) assertGenerationId(choice.generation);
  const { entries, generations } = await (catalog ?? scanGenerations(store, name, signal));
  let entry: SnapshotEntry | undefined;
  let generation: GenerationSummary | undefined;
  if (choice.snapshotId !== undefined) {
    const wanted = choice.snapshotId.trim();
    const matches = entries.filter((e) => e.id === wanted || e.seq === wanted);
    if (matches.length > 1) {
      throw new PersistdError(`snapshot id ${wanted} of ${name} is ambiguous: ${matches.map((e) => e.id).join(', ')}`, {
        kind: 'usage',
        op: 'restore',
        hint: 'pass the full id `<generation>/<seq>` shown by `persistd snapshots`',
      });
    }
    entry = matches[0];
    generation = generations.find((g) => g.generation === entry?.generation);
  } else {
    generation =
      choice.generation !== undefined
        ? generations.find((g) => g.generation === choice.generation)
        : latestGeneration(generations, { until: choice.timestamp, preferred: choice.preferredGeneration });
    const limit = choice.timestamp?.getTime() ?? Infinity;
    entry = generation?.snapshots.filter((e) => e.createdAt.getTime() <= limit).at(-1);
  }
  if (entry === undefined || generation === undefined) return undefined;
  const manifest = await readManifest(store, name, entry, signal);
  const preferred = choice.preferredGeneration;
  // (With a time, an older generation is the right answer whenever the pointer's started later.)
  const notice =
    preferred !== undefined && choice.timestamp === undefined && generation.generation !== preferred
      ? `the lineage pointer names generation ${preferred}, which ${generations.some((g) => g.generation === preferred) ? 'has no restorable snapshot' : 'is not in the store'}; restored generation ${generation.generation}, the newest one instead`
      : undefined;
  return {
    entry,
    manifest,
    generation,
    segments: choice.snapshotId !== undefined ? [] : generation.segments,
    ...(notice ? { notice } : {}),
  };
}

/** Throws a usage error unless `id` is a generation id (`YYYYMMDDTHHMMSSmmmZ-` and 8 lowercase hex digits). */
export function assertGenerationId(id: string): void {
  if (generationTime(id) === undefined) {
    throw usageError(
      `"${id}" is not a generation id`,
      'generation ids look like 20261122T115500000Z-3f9a0c1e; `persistd snapshots` lists them',
    );
  }
}

/**
 * The generation the lineage pointer `db/<name>/current.json` names (the live one), to pass as
 * `preferredGeneration`; undefined when there is none, or when it is damaged (warned: the newest
 * generation by time is used). A pointer that cannot be read because of the store throws.
 */
export async function lineageGeneration(
  store: ObjectStore,
  name: string,
  logger: Logger,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    return (await readLineage(store, name, signal))?.pointer.generation;
  } catch (err) {
    if (err instanceof PersistdError && err.kind === 'integrity') {
      logger.warn({ db: name, err: err.message }, 'ignoring a damaged lineage pointer: using the newest generation by time');
      return undefined;
    }
    throw err;
  }
}
