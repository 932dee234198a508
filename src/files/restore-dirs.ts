import { chmod, lstat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import { parseDirs, serializeDirs, type DirStat } from '../format/files-dirs.js';
import { dirsManifestKey, isReservedRelPath } from '../format/files-keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { NotFoundError } from '../store/store-errors.js';
import { atomicWriteFile } from './atomic-write.js';
import { readText } from './dir-manifest.js';
import { treeDirsPath } from './index-path.js';
import { mkdirInside } from './safe-mkdir.js';
import { unsafeRelPathReason } from './safe-relative-path.js';

/** Where `restoreDirs` works and what the file restore already did. */
export interface RestoreDirsOptions {
  store: ObjectStore;
  name: string;
  root: string;
  stateDir: string;
  /** Folders already checked by the file restore (not re-checked). */
  known: Set<string>;
  /** Folders this restore created (`''`: the root); only those get the recorded mode, local folders keep theirs. */
  created: Set<string>;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * After a tree's files are in place: creates the folders the manifest lists that are missing (empty ones
 * included), sets the recorded mode on folders this restore created and the recorded mtime on every listed
 * folder, deepest first (writing files moved them). A replica without a manifest (written before it existed)
 * restores as before. Returns how many folders got their metadata back.
 */
export async function restoreDirs(options: RestoreDirsOptions): Promise<number> {
  const { store, name, root, known, created, logger, signal } = options;
  let text: string;
  try {
    text = await readText(await store.get(dirsManifestKey(name), { signal }));
  } catch (err) {
    if (err instanceof NotFoundError) return 0;
    throw err;
  }
  const dirs = parseDirs(text);
  if (dirs === undefined) {
    logger.warn({ tree: name }, 'the folder manifest is not readable: folder modes and mtimes were not restored');
    return 0;
  }
  const usable = [...dirs].filter(([rel]) => rel === '' || (unsafeRelPathReason(rel) === undefined && !isReservedRelPath(rel)));
  for (const [rel] of usable) {
    if (rel !== '') await mkdirInside(root, rel, known, created).catch((err: unknown) => logger.warn({ tree: name, dir: rel, err: messageOf(err) }, 'folder not restored'));
  }
  // Local terms of what the replica now matches, so the next sync uploads no manifest unless something differs.
  const local = new Map<string, DirStat>(dirs);
  let applied = 0;
  const depth = (rel: string): number => (rel === '' ? 0 : rel.split('/').length);
  for (const [rel, dir] of usable.sort(([a], [b]) => depth(b) - depth(a))) {
    const abs = rel === '' ? root : join(root, rel);
    const st = await lstat(abs).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    if (created.has(rel)) await chmod(abs, dir.mode);
    await utimes(abs, dir.mtimeMs / 1000, dir.mtimeMs / 1000);
    const after = await lstat(abs);
    // A folder that kept its own mode (local wins) is left as the replica has it, so the next sync uploads the local one.
    if ((after.mode & 0o7777) === dir.mode) local.set(rel, { mode: dir.mode, mtimeMs: after.mtimeMs });
    applied++;
  }
  await atomicWriteFile(treeDirsPath(options.stateDir, name), serializeDirs(local));
  return applied;
}
