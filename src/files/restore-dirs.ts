import { chmod, lstat, utimes } from 'node:fs/promises';
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import { parseDirs, type DirStat } from '../format/files-dirs.js';
import { dirsManifestKey, isReservedRelPath } from '../format/files-keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { NotFoundError } from '../store/store-errors.js';
import { atomicWriteFile } from './atomic-write.js';
import { dirsFromKeyTexts, readText, serializeLocalDirs } from './dir-manifest.js';
import { treeDirsPath } from './index-path.js';
import { localPathOf } from './local-name.js';
import { describeMasked, restoredMode } from './restore-mode.js';
import { mkdirInside } from './safe-mkdir.js';

/** Where `restoreDirs` works and what the file restore already did. */
export interface RestoreDirsOptions {
  store: ObjectStore;
  name: string;
  root: string;
  /** This replica's cache folder (`files-state-dir.ts`): the manifest's local copy goes there. */
  filesDir: string;
  /** Folders already checked by the file restore (not re-checked). */
  known: Set<string>;
  /** Folders this restore created (`''`: the root); only those get the recorded mode, local folders keep theirs. */
  created: Set<string>;
  /** Set setuid/setgid and world-write without sticky as recorded (default: masked, see `restoredMode`). */
  restoreSpecialModes?: boolean;
  logger: Logger;
  signal?: AbortSignal;
}

/** What `restoreDirs` did. Paths are relative to the tree root. */
export interface RestoreDirsResult {
  /** Folders whose recorded mtime (and, for folders the restore created, mode) were set back. */
  applied: number;
  /** Manifest rows not used (malformed, a value out of range, an unsafe path) or folders that could not be set. */
  problems: { path: string; why: string }[];
  /** Folders created with a mode other than the recorded one (setuid/setgid or world-write masked). */
  masked: { path: string; why: string }[];
}

/**
 * After a tree's files are in place: creates the folders the manifest lists that are missing (empty ones
 * included), sets the recorded mode on folders this restore created and the recorded mtime on every listed
 * folder, deepest first (writing files moved them). A replica without a manifest (written before it existed)
 * restores as before. One bad row or folder is reported and skipped; the others still get their metadata.
 */
export async function restoreDirs(options: RestoreDirsOptions): Promise<RestoreDirsResult> {
  const { store, name, root, known, created, logger, signal } = options;
  const result: RestoreDirsResult = { applied: 0, problems: [], masked: [] };
  let text: string;
  try {
    text = await readText(await store.get(dirsManifestKey(name), { signal }));
  } catch (err) {
    if (err instanceof NotFoundError) return result;
    throw err;
  }
  const parsed = parseDirs(text);
  if (parsed === undefined) {
    logger.warn({ tree: name }, 'the folder manifest is not readable: folder modes and mtimes were not restored');
    result.problems.push({ path: '.persistd/dirs.json', why: 'not a folder manifest' });
    return result;
  }
  const { dirs, rejected } = dirsFromKeyTexts(parsed.dirs);
  result.problems.push(...parsed.rejected, ...rejected);
  for (const bad of result.problems) logger.warn({ tree: name, dir: bad.path }, `folder manifest row not used: ${bad.why}`);
  const usable = [...dirs].filter(([rel]) => !isReservedRelPath(rel));
  for (const [rel] of usable) {
    if (rel !== '')
      await mkdirInside(root, rel, known, created).catch((err: unknown) =>
        logger.warn({ tree: name, dir: rel, err: messageOf(err) }, 'folder not restored'),
      );
  }
  // Local terms of what the replica now matches, so the next sync uploads no manifest unless something differs.
  const local = new Map<string, DirStat>(dirs);
  const depth = (rel: string): number => (rel === '' ? 0 : rel.split('/').length);
  for (const [rel, dir] of usable.sort(([a], [b]) => depth(b) - depth(a))) {
    try {
      const abs = localPathOf(root, rel)!;
      const st = await lstat(abs).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      if (created.has(rel)) {
        const mode = restoredMode(dir.mode, options.restoreSpecialModes === true);
        if (mode !== dir.mode) result.masked.push({ path: rel === '' ? '.' : rel, why: describeMasked(dir.mode, mode) });
        await chmod(abs, mode);
      }
      await utimes(abs, dir.mtimeMs / 1000, dir.mtimeMs / 1000);
      const after = await lstat(abs);
      // A folder that kept its own mode (local wins) is left as the replica has it, so the next sync uploads the local one.
      if ((after.mode & 0o7777) === dir.mode) local.set(rel, { mode: dir.mode, mtimeMs: after.mtimeMs });
      result.applied++;
    } catch (err) {
      if (signal?.aborted) throw err;
      result.problems.push({ path: rel === '' ? '.' : rel, why: messageOf(err) });
      logger.warn({ tree: name, dir: rel, err: messageOf(err) }, 'folder mode or mtime not restored');
    }
  }
  await atomicWriteFile(treeDirsPath(options.filesDir, name), serializeLocalDirs(local));
  return result;
}
