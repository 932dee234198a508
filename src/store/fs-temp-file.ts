import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { PutBody } from './object-store.js';
import { FS_TEMP_PREFIX } from './fs-key-path.js';

/** A fully written, fsynced temp file waiting to be renamed into place. */
export interface FsTempFile {
  path: string;
  size: number;
  md5: string;
  ino: number;
  mtimeMs: number;
}

/**
 * Writes `body` to a new temp file in `dir` (created if needed), hashing it on the way, and fsyncs it.
 * The temp file is removed again if anything fails.
 */
export async function writeTempFile(dir: string, body: PutBody, signal?: AbortSignal): Promise<FsTempFile> {
  const path = join(dir, FS_TEMP_PREFIX + randomBytes(8).toString('hex'));
  const handle = await openCreatingDir(dir, path);
  try {
    const hash = createHash('md5');
    let size = 0;
    const write = async (chunk: Buffer | Uint8Array | string): Promise<void> => {
      signal?.throwIfAborted();
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      hash.update(bytes);
      size += bytes.length;
      let offset = 0;
      while (offset < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
        offset += bytesWritten;
      }
    };
    if (typeof body === 'string' || body instanceof Uint8Array) await write(body);
    else for await (const chunk of body) await write(chunk as Buffer | string);
    await handle.sync();
    const stats = await handle.stat();
    await handle.close();
    return { path, size, md5: hash.digest('hex'), ino: stats.ino, mtimeMs: stats.mtimeMs };
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
}

/** Opens a new file, re-creating its directory when a concurrent delete pruned it between mkdir and open. */
async function openCreatingDir(dir: string, path: string): Promise<FileHandle> {
  for (let attempt = 0; ; attempt++) {
    await mkdir(dir, { recursive: true });
    try {
      return await open(path, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
    }
  }
}

/** Fsyncs a directory so a rename or unlink in it survives a crash; file systems that refuse it are ignored. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // some file systems (and platforms) do not allow fsync on a directory; the rename is still atomic
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
