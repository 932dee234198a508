import type { FileHandle } from 'node:fs/promises';

/** The unit of allocation skipped when all zero (the usual file-system block). */
const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);

function isZero(buf: Buffer, start: number, end: number): boolean {
  return buf.subarray(start, end).equals(ZEROS.subarray(0, end - start));
}

/**
 * Writes `buf` at `position` of a file that holds nothing there yet (a new file, or one cut to its size
 * with `truncate`), leaving out every all-zero block (aligned to the file's offsets): what is never
 * written reads back as zeros, and whole blocks of it are holes, so a sparse file restores sparse.
 * Returns the file offset just past the last byte written (`position` when none was): the caller sets the
 * file's length (`truncate`) when its last bytes were zeros.
 */
export async function writeSparse(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let end = position;
  let i = 0;
  while (i < buf.length) {
    const blockEnd = Math.min(buf.length, i + BLOCK - ((position + i) % BLOCK));
    if (isZero(buf, i, blockEnd)) {
      i = blockEnd;
      continue;
    }
    let j = blockEnd;
    while (j < buf.length) {
      const next = Math.min(buf.length, j + BLOCK);
      if (isZero(buf, j, next)) break;
      j = next;
    }
    await fh.write(buf, i, j - i, position + i);
    end = position + j;
    i = j;
  }
  return end;
}
