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

/** Encodes file metadata as ASCII strings for the object's user metadata. */
export function encodeFileMetadata(meta: FileMetadata): Record<string, string> {
  return {
    ...(meta.mtimeMs === undefined ? {} : { [META_MTIME]: String(meta.mtimeMs) }),
    [META_MODE]: (meta.mode & 0o7777).toString(8),
    [META_SHA256]: meta.sha256,
  };
}

/** Decodes file metadata; undefined when the sha256 is missing or malformed (the object was not written by persistd). */
export function decodeFileMetadata(metadata: Record<string, string> | undefined): FileMetadata | undefined {
  if (!metadata) return undefined;
  const sha256 = metadata[META_SHA256]?.toLowerCase();
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) return undefined;
  const mtimeMs = Number(metadata[META_MTIME]);
  const modeText = metadata[META_MODE] ?? '';
  const mode = /^[0-7]{1,4}$/.test(modeText) ? Number.parseInt(modeText, 8) : 0o644;
  return { sha256, mode, mtimeMs: Number.isFinite(mtimeMs) && mtimeMs >= 0 ? mtimeMs : undefined };
}
