/**
 * (format 2) The uncompressed body of an increment's data object (docs/FORMAT.md, "Increments"):
 * `PDPAGES1`, u32 page size, u32 page count, then per page a u32 page number and the page, in
 * ascending page number order. All integers big-endian.
 */
import { PersistdError } from '../errors.js';

const MAGIC = Buffer.from('PDPAGES1', 'latin1');
/** Bytes before the first page record. */
export const PAGES_HEADER_SIZE = 16;

/** The header of a page-records body. */
export function encodePagesHeader(pageSize: number, count: number): Buffer {
  const header = Buffer.alloc(PAGES_HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(pageSize, 8);
  header.writeUInt32BE(count, 12);
  return header;
}

/** The u32 page number that precedes each page in the body. */
export function encodePageNumber(pageNumber: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(pageNumber, 0);
  return out;
}

/** One page of an increment. */
export interface PageRecord {
  pageNumber: number;
  data: Buffer;
}

/**
 * Parses a page-records body from a stream of chunks (the gunzipped data object), yielding each page
 * in order. Throws kind `integrity` when the body is not one: wrong magic or page size, page numbers
 * not strictly ascending or above `maxPage`, a count other than the header's, or bytes after the end.
 */
export async function* readPageRecords(
  chunks: AsyncIterable<Buffer>,
  expect: { pageSize: number; pages: number; maxPage: number; what: string },
): AsyncGenerator<PageRecord> {
  const fail = (why: string): PersistdError =>
    new PersistdError(`${expect.what} is not a valid page list: ${why}`, {
      kind: 'integrity',
      op: 'restore',
      hint: 'the stored increment is damaged; restore an older snapshot with --snapshot <id> (`persistd snapshots` lists them)',
    });
  const recordSize = 4 + expect.pageSize;
  let pending: Buffer = Buffer.alloc(0);
  let header = false;
  let seen = 0;
  let previous = 0;
  for await (const chunk of chunks) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (!header) {
      if (pending.length < PAGES_HEADER_SIZE) continue;
      if (!pending.subarray(0, 8).equals(MAGIC)) throw fail('it does not start with PDPAGES1');
      if (pending.readUInt32BE(8) !== expect.pageSize)
        throw fail(`its page size is ${pending.readUInt32BE(8)}, the manifest says ${expect.pageSize}`);
      if (pending.readUInt32BE(12) !== expect.pages)
        throw fail(`it holds ${pending.readUInt32BE(12)} pages, the manifest says ${expect.pages}`);
      pending = pending.subarray(PAGES_HEADER_SIZE);
      header = true;
    }
    let offset = 0;
    while (pending.length - offset >= recordSize) {
      if (seen === expect.pages) throw fail('it has bytes after its last page');
      const pageNumber = pending.readUInt32BE(offset);
      if (pageNumber <= previous || pageNumber > expect.maxPage)
        throw fail(`page number ${pageNumber} is out of order or past the database's ${expect.maxPage} pages`);
      previous = pageNumber;
      seen++;
      yield { pageNumber, data: pending.subarray(offset + 4, offset + recordSize) };
      offset += recordSize;
    }
    pending = pending.subarray(offset);
  }
  if (!header) throw fail('it ends before its header');
  if (pending.length > 0 || seen !== expect.pages) throw fail(`it ends after ${seen} of ${expect.pages} pages`);
}
