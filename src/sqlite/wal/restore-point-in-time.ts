import type { Logger } from 'pino';
import type { ObjectStore } from '../../store/object-store.js';
import { restoreDatabase } from '../restore-database.js';

/** Options of `restorePointInTime`. */
export interface PointInTimeOptions {
  store: ObjectStore;
  name: string;
  /** Where to write the database. */
  path: string;
  /** The state as of the last transaction shipped at or before this time; the latest state when absent. */
  timestamp?: Date;
  /** Only this generation (its newest snapshot at or before `timestamp`, then its segments). */
  generation?: string;
  force?: boolean;
  quickCheck?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What `restorePointInTime` restored. */
export type PointInTimeResult = Extract<Awaited<ReturnType<typeof restoreDatabase>>, { restored: true }>;

/**
 * `restoreDatabase` to a path, for library callers (benchmarks, shipper tests): the newest snapshot
 * at or before the time, then the WAL segments of its generation, verified and installed atomically.
 */
export async function restorePointInTime(options: PointInTimeOptions): Promise<PointInTimeResult> {
  const { path, ...rest } = options;
  const result = await restoreDatabase({ ...rest, target: path });
  if (!result.restored) throw new Error(`restore of ${options.name} did nothing (${result.reason})`); // unreachable without ifNotExists/ifReplicaExists
  return result;
}
