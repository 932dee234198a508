/** Object metadata persistd writes on every file object: how a restore recreates and verifies the file. */

/** Metadata keys (lower-case ASCII; S3 sends them as `x-amz-meta-<key>`). */
export const META_MTIME = 'persistd-mtime';
export const META_MODE = 'persistd-mode';
export const META_SHA256 = 'persistd-sha256';
/** Set only on trash copies: when the file was deleted (ISO 8601). */
export const META_DELETED_AT = 'persistd-deleted-at';

/** What a file object's metadata says about the file it holds. */
export interface FileMetadata {
  /** Modification time in milliseconds since the epoch (sub-millisecond when the source had it); undefined if absent. */
  mtimeMs: number | undefined;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  /** Lower-case hex sha256 of the content. */
  sha256: string;
}

/** The latest modification time persistd stores or restores: 9999-12-31T23:59:59.999Z (the earliest is the epoch). */
export const MAX_MTIME_MS = 253_402_300_799_999;

/** Whether a number is a modification time persistd stores and restores (0 to MAX_MTIME_MS, in ms). */
export function isValidMtimeMs(mtimeMs: number): boolean {
  return Number.isFinite(mtimeMs) && mtimeMs >= 0 && mtimeMs <= MAX_MTIME_MS;
}

/** Encodes file metadata as ASCII strings for the object's user metadata; an mtime outside the valid range (before 1970) is left out. */
export function encodeFileMetadata(meta: FileMetadata): Record<string, string> {
  return {
    ...(meta.mtimeMs === undefined || !isValidMtimeMs(meta.mtimeMs) ? {} : { [META_MTIME]: String(meta.mtimeMs) }),
    [META_MODE]: (meta.mode & 0o7777).toString(8),
    [META_SHA256]: meta.sha256,
  };
}

/** File metadata as read from an object, with what was wrong in it. */
export interface DecodedFileMetadata extends FileMetadata {
  /**
   * Fields present but invalid (an mtime out of range, a mode that is not octal 0-7777), one message each:
   * never used as they are. The mtime is then left unset and the mode is `INVALID_MODE_FALLBACK`.
   */
  problems: string[];
}

/** The mode a file gets when its object's mode metadata is invalid: readable and writable by its owner only. */
export const INVALID_MODE_FALLBACK = 0o600;

const DECIMAL = /^[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?$/i;

/** Decodes file metadata; undefined when the sha256 is missing or malformed (the object was not written by persistd). */
export function decodeFileMetadata(metadata: Record<string, string> | undefined): DecodedFileMetadata | undefined {
  if (!metadata) return undefined;
  const sha256 = metadata[META_SHA256]?.toLowerCase();
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) return undefined;
  const problems: string[] = [];
  let mtimeMs: number | undefined;
  const mtimeText = metadata[META_MTIME];
  if (mtimeText !== undefined) {
    const value = DECIMAL.test(mtimeText) ? Number(mtimeText) : Number.NaN;
    if (isValidMtimeMs(value)) mtimeMs = value;
    else problems.push(`${META_MTIME} ${JSON.stringify(mtimeText.slice(0, 40))} is not a time between 1970 and 9999 in ms`);
  }
  let mode = 0o644; // absent: an object persistd did not fully describe; the usual mode of a new file
  const modeText = metadata[META_MODE];
  if (modeText !== undefined) {
    if (/^[0-7]{1,4}$/.test(modeText)) mode = Number.parseInt(modeText, 8);
    else {
      mode = INVALID_MODE_FALLBACK;
      problems.push(`${META_MODE} ${JSON.stringify(modeText.slice(0, 40))} is not a permission mode (octal, at most 7777)`);
    }
  }
  return { sha256, mode, mtimeMs, problems };
}
