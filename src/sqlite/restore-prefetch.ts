import type { Logger } from 'pino';
import type { ObjectStore } from '../store/object-store.js';
import { scanGenerations, type DatabaseCatalog } from './generation-catalog.js';
import { lineageGeneration } from './restore-point.js';

/** The reads a database's restore begins with, started before they are needed. */
export interface RestorePrefetch {
  /** The lineage pointer's generation (undefined when not asked for, absent or damaged). */
  preferredGeneration: Promise<string | undefined>;
  /** The listing of the database's generations. */
  catalog: Promise<DatabaseCatalog>;
}

/**
 * Starts a database's first reads at once: its lineage pointer (when `wantsLineage`) and the LIST of its
 * generations, so that they share one round trip with the replica marker's GET instead of taking three
 * in a row before the snapshot's first byte. Reads only. A failure surfaces where a result is awaited;
 * a prefetch that is never awaited (the marker refused the restore) raises nothing.
 */
export function prefetchRestore(
  store: ObjectStore,
  name: string,
  wantsLineage: boolean,
  logger: Logger,
  signal?: AbortSignal,
): RestorePrefetch {
  const preferredGeneration = wantsLineage ? lineageGeneration(store, name, logger, signal) : Promise.resolve(undefined);
  const catalog = scanGenerations(store, name, signal);
  preferredGeneration.catch(() => undefined);
  catalog.catch(() => undefined);
  return { preferredGeneration, catalog };
}
