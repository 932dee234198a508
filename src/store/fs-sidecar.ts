import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { readFile, type FileHandle } from 'node:fs/promises';

/** What an FsStore keeps next to each object so head and list need not read the content. */
export interface FsSidecar {
  v: 1;
  /** Hex MD5 of the content, the same value S3 gives a single-part upload. */
  etag: string;
  size: number;
  /** Identity of the data file the sidecar was written for; a mismatch means the sidecar is stale. */
  ino: number;
  mtimeMs: number;
  metadata: Record<string, string>;
  contentType?: string;
}

/** The sidecar at `path`, or undefined when it is missing or unreadable (then the content is the truth). */
export async function readSidecar(path: string): Promise<FsSidecar | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<FsSidecar>;
    if (parsed.v !== 1 || typeof parsed.etag !== 'string' || typeof parsed.ino !== 'number') return undefined;
    return parsed as FsSidecar;
  } catch {
    return undefined; // torn or foreign file: fall back to hashing the content
  }
}

/** Whether `sidecar` describes exactly the data file `stats` (same inode, size and mtime). */
export function sidecarDescribes(sidecar: FsSidecar, stats: Stats): boolean {
  return sidecar.ino === stats.ino && sidecar.size === stats.size && sidecar.mtimeMs === stats.mtimeMs;
}

/** Hex MD5 of a file's content, streamed; used when a file has no valid sidecar (written by something else, or a crash). */
export async function md5OfFile(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Hex MD5 of an open file's content (positioned reads; the handle stays open and its position unchanged). */
export async function md5OfHandle(handle: FileHandle): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of handle.createReadStream({ start: 0, autoClose: false })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
