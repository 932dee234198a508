import { mkdir, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { DEFAULTS } from '../config/defaults.js';
import { PersistdError, messageOf } from '../errors.js';
import { isReservedRelPath, parseTrashKey, trashPrefix, treePrefix } from '../format/files-keys.js';
import { join } from 'node:path';
import { asideTreePrefix } from '../format/files-owner.js';
import { silentLogger } from '../log/logger.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { StoreError } from '../store/store-errors.js';
import type { DownloadOptions } from './download-object.js';
import { filesStateDir } from './files-state-dir.js';
import { treeIndexPath } from './index-path.js';
import { LocalIndex } from './local-index.js';
import { localPathOf, relPathOfKeyText } from './local-name.js';
import { DelayedProgress, type DelayedProgressOptions } from './delayed-progress.js';
import { restoreDirs } from './restore-dirs.js';
import { restoreEntry } from './restore-entry.js';
import { mkdirInside } from './safe-mkdir.js';
import { TaskPool } from './task-pool.js';

/** Options of `restoreTree`. */
export interface RestoreTreeOptions extends Omit<DownloadOptions, 'signal'> {
  store: ObjectStore;
  /** Tree name: objects live under `files/<name>/`. */
  name: string;
  /** Local folder to restore into (created if missing). */
  root: string;
  /** persistd's state directory; the index goes to `<stateDir>/files/<replica>/<name>.index` (`files-state-dir.ts`). */
  stateDir: string;
  /** Downloads in flight (default 16: GET latency, not bandwidth, bounds a restore of small files). */
  concurrency?: number;
  /** Also bring back files deleted within `keepDeleted` (the newest trash copy of each path not present remotely). */
  includeDeleted?: boolean;
  /**
   * Restore what this fenced instance kept aside (`files/.persistd/aside/<instance>/<name>/`) instead of the
   * live tree: no trash, no folder manifest, and the local index (which describes the live tree) is left alone.
   */
  aside?: string;
  logger?: Logger;
  /** Progress reporting (files and bytes done of the listed total); on by default when a logger is given, `false` turns it off. */
  progress?: false | Pick<DelayedProgressOptions, 'delayMs' | 'intervalMs' | 'stream'>;
  signal?: AbortSignal;
}

/** What a restore did. Paths are relative to the tree root (names that are not valid UTF-8 shown with `\\xhh`, `local-name.ts`). */
export interface RestoreReport {
  listed: number;
  downloaded: number;
  bytes: number;
  /** Local files that already matched the remote object. */
  skipped: number;
  /** Local files that differ from the remote object and were kept (local wins). */
  conflicts: { path: string; why: string }[];
  /** Remote keys refused: they would escape the tree, or are not a name persistd writes. */
  refused: { key: string; why: string }[];
  /** Objects that failed to download or verify; the local file (if any) is untouched. */
  failed: { path: string; error: string }[];
  /** Objects without persistd metadata (written by another tool): size checked, no checksum. */
  unverified: string[];
  /** Paths brought back from the trash (`includeDeleted`). */
  undeleted: string[];
  /** Folders whose recorded mtime (and, for folders the restore created, mode) were set back. */
  folders: number;
  /**
   * Files and folders whose metadata was invalid (an mtime out of range, a mode that is not one, a bad folder
   * manifest row): restored without it (file content still verified), never with the invalid value.
   */
  metadataProblems: { path: string; why: string }[];
  /** Files and folders restored without the setuid/setgid or world-write bits the bucket gave them (`restoreSpecialModes` off). */
  modesMasked: { path: string; why: string }[];
}

/** A directory restore in which some objects failed: everything else was restored, and `report` says what happened to each. */
export class RestoreTreeError extends PersistdError {
  constructor(
    root: string,
    readonly report: RestoreReport,
    onlyStorageFailures: boolean,
  ) {
    const first = report.failed[0];
    super(`restore of ${root} failed: ${report.failed.length} file(s) could not be restored (first: ${first?.path}: ${first?.error})`, {
      // Failures that were all the store's (network, auth) are a storage problem (exit 4), not damaged data.
      kind: onlyStorageFailures ? 'storage' : 'integrity',
      op: 'restore',
      path: root,
      hint: 'run the restore again; files that failed were not written, and everything else was restored',
    });
    this.name = 'RestoreTreeError';
  }
}

/** Restores `files/<name>/` into `root`; throws a RestoreTreeError (which carries the report) when any object failed. */
export async function restoreTree(options: RestoreTreeOptions): Promise<RestoreReport> {
  const { store, name, root, signal } = options;
  const log = options.logger ?? silentLogger();
  let onlyStorageFailures = true;
  const report: RestoreReport = {
    listed: 0,
    downloaded: 0,
    bytes: 0,
    skipped: 0,
    conflicts: [],
    refused: [],
    failed: [],
    unverified: [],
    undeleted: [],
    folders: 0,
    metadataProblems: [],
    modesMasked: [],
  };
  const created = new Set<string>();
  if (await ensureRootDir(root)) created.add('');
  const filesDir = await filesStateDir(options.stateDir, store, signal);
  // Restoring what was kept aside must not teach the index (a cache of the live tree) anything.
  const index = await LocalIndex.load(options.aside === undefined ? treeIndexPath(filesDir, name) : join(filesDir, 'aside-restore.none'));
  const pool = new TaskPool(options.concurrency ?? DEFAULTS.concurrency);
  const dirs = new Set<string>();
  // Index entries of objects no longer listed are dropped at the end; on a fresh restore there are none.
  const unlisted = new Set(index.paths());
  // Live paths matter only to skip trash copies of files that still exist.
  const live = options.includeDeleted ? new Set<string>() : undefined;
  const download = { ...options, signal };
  const progress =
    options.logger === undefined || options.progress === false
      ? undefined
      : new DelayedProgress({ label: `restore ${name}`, logger: log, ...options.progress });
  const totals = { items: 0, bytes: 0 };

  const restoreOne = async (object: ObjectInfo, relPath: string, fromTrash: boolean): Promise<void> => {
    try {
      await mkdirInside(root, relPath.includes('/') ? relPath.slice(0, relPath.lastIndexOf('/')) : '', dirs, created);
      const outcome = await restoreEntry(store, object, localPathOf(root, relPath)!, relPath, index, download);
      if (outcome.kind === 'downloaded') {
        report.downloaded++;
        report.bytes += outcome.bytes;
        if (!outcome.verified) report.unverified.push(relPath);
        for (const why of outcome.metadataProblems) {
          report.metadataProblems.push({ path: relPath, why });
          log.warn({ tree: name, path: relPath, key: object.key }, `restored without invalid metadata: ${why}`);
        }
        if (outcome.modeMasked !== undefined) report.modesMasked.push({ path: relPath, why: outcome.modeMasked });
        if (fromTrash) {
          report.undeleted.push(relPath);
          index.delete(relPath); // not in the live tree: the next sync uploads it again
        }
      } else if (outcome.kind === 'skipped') report.skipped++;
      else {
        report.conflicts.push({ path: relPath, why: outcome.why });
        log.warn({ tree: name, path: relPath }, `restore kept the local file (local wins): ${outcome.why}`);
      }
    } catch (err) {
      if (signal?.aborted) throw err;
      report.failed.push({ path: relPath, error: messageOf(err) });
      if (!(err instanceof StoreError) || err.kind !== 'storage') onlyStorageFailures = false;
      log.error({ tree: name, path: relPath, err: messageOf(err) }, 'restore of a file failed; the local file is untouched');
    } finally {
      progress?.add(1, object.size);
    }
  };
  const schedule = async (object: ObjectInfo, relPath: string, fromTrash: boolean): Promise<void> => {
    totals.items++;
    totals.bytes += object.size;
    await pool.add(() => restoreOne(object, relPath, fromTrash));
  };

  try {
    const prefix = options.aside === undefined ? treePrefix(name) : asideTreePrefix(options.aside, name);
    for await (const object of store.list(prefix, { signal })) {
      const keyText = object.key.slice(prefix.length);
      if (isReservedRelPath(keyText)) continue;
      if (keyText.endsWith('/') && object.size === 0) continue; // a "folder" placeholder made by a console
      report.listed++;
      const local = relPathOfKeyText(keyText);
      if ('why' in local) {
        report.refused.push({ key: object.key, why: local.why });
        log.error(
          { tree: name, key: object.key },
          `refused a remote key: ${local.why} (it would escape the tree, or is not a name persistd writes)`,
        );
        continue;
      }
      const relPath = flatCopy(local.relPath);
      unlisted.delete(relPath);
      live?.add(relPath);
      await schedule(object, relPath, false);
    }
    progress?.setTotals(totals);
    await pool.drain();
    signal?.throwIfAborted();
    // The index describes the bucket: entries for objects no longer there are dropped.
    for (const p of unlisted) index.delete(p);
    unlisted.clear();

    if (live && options.aside === undefined) {
      for (const [keyText, object] of await newestTrashCopies(store, name, signal)) {
        const local = relPathOfKeyText(keyText);
        if ('why' in local) {
          report.refused.push({ key: object.key, why: local.why });
          continue;
        }
        if (live.has(local.relPath)) continue;
        await schedule(object, local.relPath, true);
      }
      progress?.setTotals(totals);
      await pool.drain();
    }
    const folders =
      options.aside !== undefined
        ? { applied: 0, problems: [], masked: [] }
        : await restoreDirs({
            store,
            name,
            root,
            filesDir,
            known: dirs,
            created,
            restoreSpecialModes: options.restoreSpecialModes,
            logger: log,
            signal,
          }).catch((err: unknown) => {
            if (signal?.aborted) throw err;
            log.warn({ tree: name, err: messageOf(err) }, 'folder modes and mtimes were not restored');
            return { applied: 0, problems: [{ path: '.', why: `folder modes and mtimes not restored: ${messageOf(err)}` }], masked: [] };
          });
    report.folders = folders.applied;
    report.metadataProblems.push(...folders.problems);
    report.modesMasked.push(...folders.masked);
  } catch (err) {
    progress?.fail(err);
    throw err;
  }
  progress?.done();
  if (options.aside === undefined) await index.flush();
  log.info(
    {
      tree: name,
      downloaded: report.downloaded,
      skipped: report.skipped,
      bytes: report.bytes,
      conflicts: report.conflicts.length,
      refused: report.refused.length,
      failed: report.failed.length,
    },
    'restored directory',
  );
  if (report.modesMasked.length > 0) {
    const first = report.modesMasked[0]!;
    log.warn(
      { tree: name, masked: report.modesMasked.length },
      `${report.modesMasked.length} file(s) or folder(s) restored without the setuid/setgid or world-write bits the bucket gave them (first: ${first.path}: ${first.why}); set restoreSpecialModes (--restore-special-modes) if they are yours`,
    );
  }
  if (report.failed.length > 0) throw new RestoreTreeError(root, report, onlyStorageFailures);
  return report;
}

/**
 * A flat copy of a path cut from an object key: a slice would keep the whole key alive behind it for as
 * long as the path is an index key (100,000 keys: 4 MiB).
 */
function flatCopy(relPath: string): string {
  return Buffer.from(relPath, 'utf8').toString('utf8');
}

/** Makes sure `root` is a folder; true when it had to be created. */
async function ensureRootDir(root: string): Promise<boolean> {
  const st = await stat(root).catch(() => undefined);
  if (st && !st.isDirectory()) {
    throw new PersistdError(`cannot restore into ${root}: it exists and is not a directory`, {
      kind: 'usage',
      op: 'restore',
      path: root,
      hint: 'point the directory option at a folder, or move the file away',
    });
  }
  await mkdir(root, { recursive: true });
  return st === undefined;
}

/** For every path (key text) in the trash, its newest trash copy. */
async function newestTrashCopies(store: ObjectStore, name: string, signal?: AbortSignal): Promise<Map<string, ObjectInfo>> {
  const newest = new Map<string, { at: number; object: ObjectInfo }>();
  for await (const object of store.list(trashPrefix(name), { signal })) {
    const parsed = parseTrashKey(name, object.key);
    if (!parsed) continue;
    const at = parsed.deletedAt.getTime();
    const seen = newest.get(parsed.relPath);
    if (!seen || seen.at < at) newest.set(parsed.relPath, { at, object });
  }
  return new Map([...newest].map(([p, v]) => [p, v.object]));
}
