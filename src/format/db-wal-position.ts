/**
 * The WAL position a snapshot was taken at, recorded as the optional `wal` field of a snapshot
 * manifest (docs/FORMAT.md, "WAL segments"): the snapshot holds frames 1..`frame` of WAL `epoch`
 * of its generation, and the generation's segments continue right after it.
 */

/** Where in the generation's WAL stream a snapshot stands. */
export interface WalPosition {
  epoch: number;
  /** Frames of `epoch` included in the snapshot (0: none; the WAL was empty or not yet written). */
  frame: number;
  /** Salts of that WAL, or null when it had no valid header at the time. */
  salt1: number | null;
  salt2: number | null;
}

/** The `wal` field of a parsed manifest, validated; undefined when absent (a snapshot no segment follows). */
export function walPositionOf(manifest: object): WalPosition | undefined {
  const wal = (manifest as { wal?: unknown }).wal;
  if (typeof wal !== 'object' || wal === null) return undefined;
  const w = wal as Record<string, unknown>;
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const salt = (v: unknown): boolean => v === null || (count(v) && (v as number) <= 0xffffffff);
  if (!count(w['epoch']) || !count(w['frame']) || !salt(w['salt1']) || !salt(w['salt2'])) return undefined;
  return {
    epoch: w['epoch'] as number,
    frame: w['frame'] as number,
    salt1: w['salt1'] as number | null,
    salt2: w['salt2'] as number | null,
  };
}

/** Whether a segment of (`epoch`, frames `first`..) comes after a position (it may straddle it: frames up to `frame` are skipped). */
export function segmentFollows(position: WalPosition, epoch: number, last: number): boolean {
  return epoch > position.epoch || (epoch === position.epoch && last > position.frame);
}
