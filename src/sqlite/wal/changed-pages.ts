import { closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { readFrameHeader, WAL_FRAME_HEADER_SIZE } from '../../format/db-wal-frames.js';

/**
 * The pages written in the current generation since its last restore point, each as its latest
 * committed frame left it: what the next increment stores (docs/FORMAT.md, "Increments"). The page
 * images live in a sparse file beside the database's other temp files (page N at offset
 * (N - 1) * page size), so memory holds only the set of page numbers. Fed with every committed frame
 * the shipper reads, in WAL order, so each page's image is the newest one read.
 */
export class ChangedPages {
  private fd: number | undefined;
  private readonly pages = new Set<number>();
  private pageSize: number | undefined;
  /** Set when the images cannot be trusted (a write failed): the next compaction point must be a full snapshot. */
  private broken = false;

  constructor(private readonly file: string) {}

  /** Pages recorded. */
  get count(): number {
    return this.pages.size;
  }

  /** Whether every page written since the last restore point is recorded (false after a local write failure). */
  get complete(): boolean {
    return !this.broken;
  }

  /** Records the pages of committed WAL frames (`data`: whole frames, headers included, as read from the WAL). */
  record(data: Buffer, pageSize: number): void {
    if (this.broken) return;
    try {
      if (this.pageSize !== undefined && this.pageSize !== pageSize) throw new Error('page size changed');
      this.pageSize = pageSize;
      this.fd ??= openSync(this.file, 'w+', 0o600);
      const frame = WAL_FRAME_HEADER_SIZE + pageSize;
      for (let offset = 0; offset + frame <= data.length; offset += frame) {
        const pageNumber = readFrameHeader(data, offset).pgno;
        writeSync(this.fd, data, offset + WAL_FRAME_HEADER_SIZE, pageSize, (pageNumber - 1) * pageSize);
        this.pages.add(pageNumber);
      }
    } catch {
      // Without every image the next increment would be wrong: it becomes a full snapshot instead.
      this.broken = true;
    }
  }

  /** The recorded page numbers, ascending, up to `pageCount` (pages past the end were truncated away). */
  pageNumbers(pageCount: number): number[] {
    return [...this.pages].filter((p) => p <= pageCount).sort((a, b) => a - b);
  }

  /** Reads the newest image of a recorded page into `into`. */
  read(pageNumber: number, into: Buffer): void {
    if (this.fd === undefined || this.pageSize === undefined) throw new Error(`page ${pageNumber} was not recorded`);
    const got = readSync(this.fd, into, 0, this.pageSize, (pageNumber - 1) * this.pageSize);
    if (got !== this.pageSize) throw new Error(`page ${pageNumber}: read ${got} of ${this.pageSize} bytes`);
  }

  /** Starts over: a restore point now holds everything recorded. */
  reset(): void {
    this.pages.clear();
    this.broken = false;
    this.pageSize = undefined;
    if (this.fd !== undefined) {
      try {
        ftruncateSync(this.fd, 0);
      } catch {
        closeSync(this.fd);
        this.fd = undefined;
      }
    }
  }

  /** Closes and removes the file. */
  async dispose(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.pages.clear();
    await rm(this.file, { force: true });
  }
}
