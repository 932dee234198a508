import { PersistdError } from '../errors.js';
import { FILES_ROOT, LOOSE_TREE, RESERVED_SEGMENT, dirsManifestKey } from '../format/files-keys.js';

// Rollback detection for file objects in an encrypted replica (docs/FORMAT.md "Encryption (format 2)",
// "File versions"). Each encrypted object carries the time persistd wrote it in its payload nonce (a
// write stamp, authenticated by every chunk). A tree's folder manifest (`dirs.json`, encrypted) records
// the stamp of each file's newest version this writer knows, loose files a manifest of their own; a
// reader refuses a file object whose stamp is older than the one recorded: an older version of itself
// put back at its key (a versioned bucket, a replay). A newer stamp is fine: the manifest lags the files.

/** The manifest of the loose files' stamps (there is no folder manifest for them). */
export const LOOSE_VERSIONS_KEY = `${FILES_ROOT}${LOOSE_TREE}/${RESERVED_SEGMENT}/versions.json`;

/** A live file object: the manifest that records its stamp, and its key text there. */
export function liveFileOf(key: string): { manifestKey: string; rel: string } | undefined {
  if (!key.startsWith(FILES_ROOT)) return undefined;
  const rest = key.slice(FILES_ROOT.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const tree = rest.slice(0, slash);
  const rel = rest.slice(slash + 1);
  if (rel === '' || tree.startsWith(RESERVED_SEGMENT) || rel === RESERVED_SEGMENT || rel.startsWith(`${RESERVED_SEGMENT}/`))
    return undefined;
  return { manifestKey: tree === LOOSE_TREE ? LOOSE_VERSIONS_KEY : dirsManifestKey(tree), rel };
}

/** Whether `key` is a manifest that records file stamps. */
export function isVersionsManifest(key: string): boolean {
  return key === LOOSE_VERSIONS_KEY || (key.startsWith(FILES_ROOT) && key.endsWith(`/${RESERVED_SEGMENT}/dirs.json`));
}

/** The stamps a manifest's text records (its `files` field); rows that do not parse are left out. */
export function parseFileStamps(text: string | undefined): Map<string, number> {
  const stamps = new Map<string, number>();
  if (text === undefined) return stamps;
  let doc: { files?: unknown };
  try {
    doc = JSON.parse(text) as { files?: unknown };
  } catch {
    return stamps;
  }
  if (!Array.isArray(doc?.files)) return stamps;
  for (const row of doc.files as unknown[]) {
    if (!Array.isArray(row)) continue;
    const [rel, stamp] = row as unknown[];
    if (typeof rel === 'string' && typeof stamp === 'number' && Number.isSafeInteger(stamp) && stamp > 0) stamps.set(rel, stamp);
  }
  return stamps;
}

/** One manifest's stamps as this process knows them. */
interface Recorded {
  stamps: Map<string, number>;
  /** Changes noted, and how many of them the last manifest written holds. */
  noted: number;
  written: number;
}

/** A file object older than the version its manifest records. */
export function rolledBack(key: string, stamp: number | undefined, recorded: number): PersistdError {
  const what = stamp === undefined ? 'carries no write stamp' : `was written ${new Date(stamp).toISOString()}`;
  return new PersistdError(
    `${key} is an older version of itself: it ${what}, and the replica's manifest records a version written ${new Date(recorded).toISOString()}`,
    {
      kind: 'integrity',
      op: 'decrypt',
      path: key,
      hint: 'the object was rolled back in the store (an older version restored or replayed); it was not used and nothing local was changed. Put the newest version back, or restore the other files and back this one up again from a good copy',
    },
  );
}

/**
 * The write stamps of live file objects: the next one to write with, the ones manifests record (read once
 * per manifest through `read`, undefined when it cannot be read), and what this process wrote or deleted since.
 */
export class FileVersions {
  private readonly manifests = new Map<string, Promise<Recorded>>();
  private readonly loaded = new Map<string, Recorded>();
  private last = 0;

  constructor(private readonly read: (manifestKey: string) => Promise<string | undefined>) {}

  private recorded(manifestKey: string): Promise<Recorded> {
    let found = this.manifests.get(manifestKey);
    if (found === undefined) {
      found = this.read(manifestKey).then((text) => {
        const recorded = { stamps: parseFileStamps(text), noted: 0, written: 0 };
        this.loaded.set(manifestKey, recorded);
        return recorded;
      });
      this.manifests.set(manifestKey, found);
      found.catch(() => this.manifests.delete(manifestKey));
    }
    return found;
  }

  /**
   * The stamps of a manifest for a writer: one that cannot be read (damaged, or the store failing) does not
   * stop backups; the writer starts from nothing, and the manifest it stores replaces that one.
   */
  private recordedForWrite(manifestKey: string): Promise<Recorded> {
    return this.recorded(manifestKey).catch(() => {
      const fresh: Recorded = { stamps: new Map(), noted: 0, written: 0 };
      this.loaded.set(manifestKey, fresh);
      this.manifests.set(manifestKey, Promise.resolve(fresh));
      return fresh;
    });
  }

  /** The stamp to write `key` with: now, but later than every stamp this process issued or knows for the key. */
  async stampFor(key: string): Promise<number> {
    const file = liveFileOf(key);
    const known = file === undefined ? 0 : ((await this.recordedForWrite(file.manifestKey)).stamps.get(file.rel) ?? 0);
    this.last = Math.max(Date.now(), this.last + 1, known + 1);
    return this.last;
  }

  /** `key` was written with `stamp`. */
  async noteWritten(key: string, stamp: number): Promise<void> {
    const file = liveFileOf(key);
    if (file === undefined) return;
    const recorded = await this.recordedForWrite(file.manifestKey);
    recorded.stamps.set(file.rel, stamp);
    recorded.noted++;
  }

  /** `keys` were deleted: a directory's manifest forgets them (a loose file's stamp stays, so an old copy put back is still refused). */
  async noteDeleted(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const file = liveFileOf(key);
      if (file === undefined || file.manifestKey === LOOSE_VERSIONS_KEY) continue;
      const recorded = await this.recordedForWrite(file.manifestKey);
      if (recorded.stamps.delete(file.rel)) recorded.noted++;
    }
  }

  /** Whether the manifest `manifestKey` lacks changes this process made. */
  pending(manifestKey: string): boolean {
    const recorded = this.loaded.get(manifestKey);
    return recorded !== undefined && recorded.noted > recorded.written;
  }

  /** The stamp the manifest records for `key`, when it is a live file object and one is recorded. */
  async expected(key: string): Promise<number | undefined> {
    const file = liveFileOf(key);
    return file === undefined ? undefined : (await this.recorded(file.manifestKey)).stamps.get(file.rel);
  }

  /** The manifest text to store: `text` (a JSON object) with the `files` field set; `written()` once it is stored. */
  async manifestText(manifestKey: string, text: string): Promise<{ text: string; written: () => void }> {
    const recorded = await this.recordedForWrite(manifestKey);
    const noted = recorded.noted;
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { text, written: () => undefined };
    }
    const files = [...recorded.stamps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const out = `${JSON.stringify({ ...doc, files })}\n`;
    return { text: out, written: () => (recorded.written = Math.max(recorded.written, noted)) };
  }
}
