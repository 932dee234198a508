/**
 * The lineage pointer `db/<name>/current.json` (docs/FORMAT.md, "Lineage pointer"): which generation is
 * the live one, and which persistd instance writes it. Readers prefer it over guessing by time.
 */
import { PersistdError } from '../errors.js';

/** Format version of the lineage pointer. */
export const LINEAGE_FORMAT = 1;

/** Where the instance that took the pointer restored its database from, when it restored. */
export interface RestoredFrom {
  generation: string;
  /** The WAL position restored to, when the restore applied WAL segments (epoch and frame within it). */
  wal: { epoch: number; frame: number } | null;
  /** Every transaction shipped up to this time was in the restore. */
  restoredTo: string;
}

/** The content of `db/<name>/current.json`. */
export interface LineagePointer {
  format: typeof LINEAGE_FORMAT;
  kind: 'lineage';
  database: string;
  /** The live generation: restores without --generation, --snapshot or --timestamp follow it. */
  generation: string;
  /** Random id of the persistd process that took the pointer. */
  instance: string;
  host: string;
  pid: number;
  /** When that process started: an instance never takes the pointer from one that started after it. */
  instanceStartedAt: string;
  takenAt: string;
  restoredFrom: RestoredFrom | null;
  createdBy: string;
}

/** Serializes a pointer (stable key order, trailing newline). */
export function serializeLineage(pointer: LineagePointer): string {
  return `${JSON.stringify(pointer, null, 2)}\n`;
}

/** Parses a pointer; throws an integrity error naming the key when it is not one this version can read. */
export function parseLineage(text: string, key: string): LineagePointer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw lineageError(key, 'is not JSON');
  }
  const p = value as Partial<LineagePointer> | null;
  if (p === null || typeof p !== 'object' || p.kind !== 'lineage') throw lineageError(key, 'is not a lineage pointer');
  if (typeof p.format !== 'number' || p.format > LINEAGE_FORMAT) {
    throw new PersistdError(`${key} has lineage format ${String(p.format)}, newer than this persistd reads (${LINEAGE_FORMAT})`, {
      kind: 'usage',
      op: 'read lineage',
      path: key,
      hint: 'upgrade persistd on this machine',
    });
  }
  const strings = ['database', 'generation', 'instance', 'host', 'instanceStartedAt', 'takenAt'] as const;
  for (const field of strings) if (typeof p[field] !== 'string') throw lineageError(key, `has no ${field}`);
  if (Number.isNaN(Date.parse(p.instanceStartedAt!)) || Number.isNaN(Date.parse(p.takenAt!))) throw lineageError(key, 'has a bad time');
  return {
    format: LINEAGE_FORMAT,
    kind: 'lineage',
    database: p.database!,
    generation: p.generation!,
    instance: p.instance!,
    host: p.host!,
    pid: typeof p.pid === 'number' ? p.pid : 0,
    instanceStartedAt: p.instanceStartedAt!,
    takenAt: p.takenAt!,
    restoredFrom: parseRestoredFrom(p.restoredFrom),
    createdBy: typeof p.createdBy === 'string' ? p.createdBy : 'unknown',
  };
}

function parseRestoredFrom(value: unknown): RestoredFrom | null {
  const r = value as Partial<RestoredFrom> | null | undefined;
  if (r === null || r === undefined || typeof r !== 'object' || typeof r.generation !== 'string' || typeof r.restoredTo !== 'string')
    return null;
  const wal =
    r.wal && typeof r.wal.epoch === 'number' && typeof r.wal.frame === 'number' ? { epoch: r.wal.epoch, frame: r.wal.frame } : null;
  return { generation: r.generation, wal, restoredTo: r.restoredTo };
}

function lineageError(key: string, what: string): PersistdError {
  return new PersistdError(`the lineage pointer ${key} ${what}`, {
    kind: 'integrity',
    op: 'read lineage',
    path: key,
    hint: 'delete it to let the next persistd take the lineage afresh (restores then pick the newest generation by time)',
  });
}
