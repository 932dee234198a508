import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from './atomic-write.js';

/** Characters gathered before one write: large enough for few syscalls, small enough to never matter. */
const CHUNK_CHARS = 256 * 1024;

/**
 * Writes `lines` (each followed by a newline) to `path` atomically, like `atomicWriteFile`, but in
 * chunks as they are produced: a 100,000-line index is never one string in memory.
 */
export async function atomicWriteLines(path: string, lines: Iterable<string>): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    let chunk: string[] = [];
    let chars = 0;
    for (const line of lines) {
      chunk.push(line);
      chars += line.length + 1;
      if (chars >= CHUNK_CHARS) {
        await fh.writeFile(`${chunk.join('\n')}\n`);
        chunk = [];
        chars = 0;
      }
    }
    if (chunk.length > 0) await fh.writeFile(`${chunk.join('\n')}\n`);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dir);
}
