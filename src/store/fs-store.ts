import type { Stats } from 'node:fs';
import { lstat, open, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { usageError } from '../errors.js';
import type {
  CopyOptions,
  GetOptions,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  ObjectWithInfo,
  PutBody,
  PutOptions,
  RequestOptions,
  StoreCapabilities,
} from './object-store.js';
import { NotFoundError, PermanentStoreError, PreconditionFailedError } from './store-errors.js';
import { mapFsError } from './fs-error-mapping.js';
import { assertFsKey, fsDataPath, fsMetaPath, FS_LOCK_FILE, FS_META_DIR } from './fs-key-path.js';
import { FileLock, type FileLockOptions } from './file-lock.js';
import { md5OfFile, md5OfHandle, readSidecar, sidecarDescribes, type FsSidecar } from './fs-sidecar.js';
import { fsyncDir, writeTempFile } from './fs-temp-file.js';
import { walkKeys } from './fs-key-walk.js';
import { normalizeEtag } from './normalize-etag.js';

/** Objects whose stat and sidecar `list` reads at once. */
const LIST_LOOKAHEAD = 64;

/** Unlinks issued at once while a delete holds the lock. */
const DELETE_PARALLELISM = 16;

/**
 * An ObjectStore on a local or mounted directory (`file:///mnt/disk/backups`): each key is a plain file
 * under the root, so a backup stays browsable. ETag (hex MD5), size and metadata live in a sidecar
 * under `<root>/.persistd-meta/`, which list never returns. Writes go to a temp file next to the
 * target, are fsynced and renamed; the commit (condition check and the two renames) and deletes run
 * under a cross-process lock file, so conditional writes mean the same as on S3.
 */
export class FsStore implements ObjectStore {
  readonly description: string;
  readonly capabilities: StoreCapabilities = { conditionalWrites: true };
  readonly root: string;
  private readonly lock: FileLock;

  constructor(root: string, options: FileLockOptions = {}) {
    if (!isAbsolute(root)) throw usageError(`file store root must be an absolute path: ${root}`, 'use file:///absolute/path');
    this.root = resolve(root);
    this.description = `file://${this.root}`;
    this.lock = new FileLock(join(this.root, FS_LOCK_FILE), options);
  }

  /** An FsStore for a `file:///absolute/path` URL. */
  static fromUrl(url: string | URL, options: FileLockOptions = {}): FsStore {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    if (parsed.protocol !== 'file:') throw usageError(`not a file:// URL: ${parsed.protocol}`, 'use file:///absolute/path');
    return new FsStore(fileURLToPath(parsed), options);
  }

  /** A file store always honours conditional writes; present so callers can probe any backend alike. */
  async probeConditionalWrites(): Promise<boolean> {
    return true;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    assertFsKey(key);
    // The stream may fail before we start reading it; its error is then rethrown by the read loop.
    if (body instanceof Readable) body.on('error', () => undefined);
    const dataPath = fsDataPath(this.root, key);
    const metaPath = fsMetaPath(this.root, key);
    let dataTemp: string | undefined;
    let metaTemp: string | undefined;
    try {
      await this.assertRoot('put');
      const temp = await writeTempFile(dirname(dataPath), body, options.signal);
      dataTemp = temp.path;
      const metadata = { ...(options.metadata ?? {}) };
      const sidecar: FsSidecar = { v: 1, etag: temp.md5, size: temp.size, ino: temp.ino, mtimeMs: temp.mtimeMs, metadata };
      if (options.contentType !== undefined) sidecar.contentType = options.contentType;
      metaTemp = (await writeTempFile(dirname(metaPath), JSON.stringify(sidecar), options.signal)).path;
      options.signal?.throwIfAborted();
      await this.lock.withLock(async () => {
        await this.checkCondition(key, dataPath, metaPath, options);
        // Sidecar first: a crash between the renames leaves a sidecar naming another inode, which readers detect.
        await rename(metaTemp!, metaPath);
        metaTemp = undefined;
        await rename(dataTemp!, dataPath);
        dataTemp = undefined;
      });
      await Promise.all([fsyncDir(dirname(dataPath)), fsyncDir(dirname(metaPath))]);
      return { key, size: temp.size, etag: temp.md5, lastModified: new Date(temp.mtimeMs), metadata };
    } catch (err) {
      throw await mapFsError(err, 'put', this.root, key);
    } finally {
      if (dataTemp !== undefined) await unlink(dataTemp).catch(() => undefined);
      if (metaTemp !== undefined) await unlink(metaTemp).catch(() => undefined);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    assertFsKey(key);
    options.signal?.throwIfAborted();
    const { handle, stats } = await this.openData(key, 'get');
    try {
      return this.readStream(handle, stats.size, key, options);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw await mapFsError(err, 'get', this.root, key);
    }
  }

  async getWithInfo(key: string, options: GetOptions = {}): Promise<ObjectWithInfo> {
    assertFsKey(key);
    options.signal?.throwIfAborted();
    for (let attempt = 0; ; attempt++) {
      const { handle, stats } = await this.openData(key, 'get');
      try {
        const sidecar = await readSidecar(fsMetaPath(this.root, key));
        const described = sidecar !== undefined && sidecarDescribes(sidecar, stats);
        // A writer may have committed between the open and the sidecar read: open again before hashing.
        if (!described && attempt < 2) {
          await handle.close();
          continue;
        }
        const etag = described ? sidecar.etag : await md5OfHandle(handle);
        const info: ObjectInfo = {
          key,
          size: stats.size,
          etag,
          lastModified: stats.mtime,
          metadata: described ? { ...sidecar.metadata } : {},
        };
        return { info, body: this.readStream(handle, stats.size, key, options) };
      } catch (err) {
        await handle.close().catch(() => undefined);
        throw await mapFsError(err, 'get', this.root, key);
      }
    }
  }

  async copy(sourceKey: string, destKey: string, options: CopyOptions = {}): Promise<void> {
    assertFsKey(destKey);
    // Through a temp file and the usual commit: the copy is atomic and conditional writes stay exact.
    const { info, body } = await this.getWithInfo(sourceKey, { signal: options.signal });
    try {
      await this.put(destKey, body, { metadata: options.metadata ?? info.metadata, contentLength: info.size, signal: options.signal });
    } finally {
      body.destroy(); // closes the source when the put failed before reading it all
    }
  }

  async head(key: string, options: RequestOptions = {}): Promise<ObjectInfo | undefined> {
    assertFsKey(key);
    options.signal?.throwIfAborted();
    try {
      await this.assertRoot('head');
      return await this.readInfo(key, fsDataPath(this.root, key), fsMetaPath(this.root, key), true);
    } catch (err) {
      throw await mapFsError(err, 'head', this.root, key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    try {
      await this.assertRoot('list');
      // Each object costs an lstat and a sidecar read: read LIST_LOOKAHEAD of them at once, yield in key order.
      let batch: { key: string; path: string }[] = [];
      const readBatch = (): Promise<(ObjectInfo | undefined)[]> =>
        Promise.all(batch.map((entry) => this.readInfo(entry.key, entry.path, fsMetaPath(this.root, entry.key), false)));
      for await (const entry of walkKeys(this.root, prefix, options.startAfter)) {
        options.signal?.throwIfAborted();
        batch.push(entry);
        if (batch.length < LIST_LOOKAHEAD) continue;
        const infos = await readBatch();
        batch = [];
        for (const info of infos) if (info !== undefined) yield info; // undefined: gone since the directory was read
      }
      for (const info of await readBatch()) if (info !== undefined) yield info;
    } catch (err) {
      throw await mapFsError(err, 'list', this.root, prefix === '' ? undefined : prefix);
    }
  }

  async delete(keys: readonly string[], options: RequestOptions = {}): Promise<void> {
    keys.forEach(assertFsKey);
    if (keys.length === 0) return;
    try {
      await this.assertRoot('delete');
      options.signal?.throwIfAborted();
      await this.lock.withLock(async () => {
        for (let i = 0; i < keys.length; i += DELETE_PARALLELISM) {
          await Promise.all(
            keys.slice(i, i + DELETE_PARALLELISM).map(async (key) => {
              // Sidecar first: a data file without a sidecar is still read correctly (by hashing it).
              await unlinkIfPresent(fsMetaPath(this.root, key));
              await unlinkIfPresent(fsDataPath(this.root, key));
            }),
          );
        }
      });
      const metaRoot = join(this.root, FS_META_DIR);
      for (const dir of deepestFirst(keys.map((key) => dirname(fsMetaPath(this.root, key))))) await this.pruneEmptyDirs(dir, metaRoot);
      for (const dir of deepestFirst(keys.map((key) => dirname(fsDataPath(this.root, key))))) await this.pruneEmptyDirs(dir, this.root);
    } catch (err) {
      throw await mapFsError(err, 'delete', this.root, keys.length === 1 ? keys[0] : undefined);
    }
  }

  /** Opens the data file of `key` for reading; NotFoundError when it is missing or not a file. */
  private async openData(key: string, op: string): Promise<{ handle: FileHandle; stats: Stats }> {
    let handle: FileHandle;
    try {
      handle = await open(fsDataPath(this.root, key), 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && (await this.rootExists())) throw new NotFoundError(key, { op });
      throw await mapFsError(err, op, this.root, key);
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new NotFoundError(key, { op });
      return { handle, stats };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw await mapFsError(err, op, this.root, key);
    }
  }

  /** A stream of the whole file or of `options.range`; it closes the handle when it ends. */
  private readStream(handle: FileHandle, size: number, key: string, options: GetOptions): Readable {
    const range = options.range;
    if (range === undefined) return handle.createReadStream({ start: 0, signal: options.signal });
    if (range.start >= size || (range.end !== undefined && range.end < range.start)) {
      throw new PermanentStoreError(`get ${key} failed: range ${range.start}-${range.end ?? ''} is not satisfiable (size ${size})`, {
        op: 'get',
        path: key,
        status: 416,
      });
    }
    const end = Math.min(range.end ?? size - 1, size - 1);
    return handle.createReadStream({ start: range.start, end, signal: options.signal });
  }

  private async checkCondition(key: string, dataPath: string, metaPath: string, options: PutOptions): Promise<void> {
    if (options.ifNoneMatch === undefined && options.ifMatch === undefined) return;
    const current = await this.readInfo(key, dataPath, metaPath, false);
    if (options.ifNoneMatch === '*' && current !== undefined) throw new PreconditionFailedError(key, { op: 'put' });
    if (options.ifMatch !== undefined && (current === undefined || current.etag !== normalizeEtag(options.ifMatch))) {
      throw new PreconditionFailedError(key, { op: 'put' });
    }
  }

  /** Info from the sidecar when it describes the file; otherwise the content is hashed (foreign file, or a crash mid-commit). */
  private async readInfo(key: string, dataPath: string, metaPath: string, withMetadata: boolean): Promise<ObjectInfo | undefined> {
    for (let attempt = 0; ; attempt++) {
      const stats = await lstat(dataPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
        throw err;
      });
      if (stats === undefined || !stats.isFile()) return undefined;
      const sidecar = await readSidecar(metaPath);
      const info: ObjectInfo = { key, size: stats.size, etag: '', lastModified: stats.mtime };
      if (sidecar !== undefined && sidecarDescribes(sidecar, stats)) {
        info.etag = sidecar.etag;
        if (withMetadata) info.metadata = { ...sidecar.metadata };
        return info;
      }
      // A writer may have committed between the stat and the sidecar read: look again before hashing.
      if (attempt < 2) continue;
      info.etag = await md5OfFile(dataPath);
      if (withMetadata) info.metadata = {};
      return info;
    }
  }

  private async pruneEmptyDirs(dir: string, stopAt: string): Promise<void> {
    while (dir.startsWith(stopAt + '/') && dir !== stopAt) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): parents are not empty either
      }
      dir = dirname(dir);
    }
  }

  private async rootExists(): Promise<boolean> {
    return stat(this.root).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  private async assertRoot(op: string): Promise<void> {
    if (await this.rootExists()) return;
    throw new PermanentStoreError(`${op} failed: the store directory ${this.root} does not exist`, {
      op,
      path: this.root,
      hint: 'create the directory (or mount the volume) or fix the file:// URL',
    });
  }
}

/** Distinct directories, children before parents, so each is tried once and only after its subdirectories. */
function deepestFirst(dirs: string[]): string[] {
  return [...new Set(dirs)].sort((a, b) => b.length - a.length);
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    // unlink of a directory fails with EISDIR (Linux) or EPERM (macOS): the key names a directory, so it does not exist itself.
    if ((code === 'EISDIR' || code === 'EPERM') && (await lstat(path)).isDirectory()) return;
    throw err;
  }
}
