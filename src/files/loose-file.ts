import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { PersistdError, messageOf } from '../errors.js';
import { looseFileKey } from '../format/files-keys.js';
import { asideKey } from '../format/files-owner.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import type { DownloadOptions } from './download-object.js';
import { filesStateDir } from './files-state-dir.js';
import { looseIndexPath } from './index-path.js';
import { LocalIndex } from './local-index.js';
import { restoreEntry, type RestoreOutcome } from './restore-entry.js';
import { looseFileLayout } from './tree-layout.js';
import { TreeSync, type TreeSyncOptions } from './tree-sync.js';

/** Options of `restoreFile`. */
export interface RestoreFileOptions extends Omit<DownloadOptions, 'signal'> {
  store: ObjectStore;
  /** Loose-file name: the object is `files/_loose/<name>`. */
  name: string;
  /** Local path of the file. */
  path: string;
  stateDir: string;
  /** Restore what this fenced instance kept aside instead of the live object (the index is left alone). */
  aside?: string;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What `restoreFile` did: `absent` when there is no backup of this file yet. */
export type RestoreFileResult = RestoreOutcome | { kind: 'absent' };

/** Restores one loose file (verified, atomic; a different local file is kept and reported). */
export async function restoreFile(options: RestoreFileOptions): Promise<RestoreFileResult> {
  const log = options.logger ?? silentLogger();
  const key = options.aside === undefined ? looseFileKey(options.name) : asideKey(options.aside, looseFileKey(options.name));
  const dest = resolve(options.path);
  const info = await options.store.head(key, { signal: options.signal });
  if (info === undefined) return { kind: 'absent' };
  const filesDir = await filesStateDir(options.stateDir, options.store, options.signal);
  const index = await LocalIndex.load(
    options.aside === undefined ? looseIndexPath(filesDir, options.name) : join(filesDir, 'aside-restore.none'),
  );
  await mkdir(dirname(dest), { recursive: true });
  let outcome: RestoreOutcome;
  try {
    outcome = await restoreEntry(options.store, info, dest, basename(dest), index, { ...options });
  } catch (err) {
    if (err instanceof PersistdError) throw err;
    throw new PersistdError(`restore of ${dest} failed: ${messageOf(err)}`, {
      kind: 'storage',
      op: 'restore',
      path: dest,
      cause: err,
      hint: 'run the restore again',
    });
  }
  if (options.aside === undefined) await index.flush();
  if (outcome.kind === 'conflict') log.warn({ file: dest }, `restore kept the local file (local wins): ${outcome.why}`);
  else log.info({ file: dest, outcome: outcome.kind }, 'restored file');
  if (outcome.kind === 'downloaded') {
    for (const why of outcome.metadataProblems) log.warn({ file: dest, key }, `restored without invalid metadata: ${why}`);
    if (outcome.modeMasked !== undefined)
      log.warn(
        { file: dest },
        `restored without the setuid/setgid or world-write bits the bucket gave it (${outcome.modeMasked}); set restoreSpecialModes (--restore-special-modes) if they are yours`,
      );
  }
  return outcome;
}

/** Options of a loose-file sync: a TreeSync's options without the tree ones. */
export interface LooseFileSyncOptions extends Omit<TreeSyncOptions, 'root' | 'include' | 'exclude' | 'defaultExcludes'> {
  /** Local path of the file. */
  path: string;
}

/**
 * A TreeSync for one loose file: watches the file's folder (depth 0) for just that name, so an app
 * rewriting it by write-temp-then-rename is seen like any other change.
 */
export function createLooseFileSync(options: LooseFileSyncOptions): TreeSync {
  const path = resolve(options.path);
  return new TreeSync({ ...options, root: dirname(path) }, looseFileLayout(options.name, path));
}
