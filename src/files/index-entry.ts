/** What persistd knows about one file it put in the bucket: the local stat it had then, and the object's identity. */
export interface IndexEntry {
  size: number;
  mtimeMs: number;
  mode: number;
  sha256: string;
  etag: string;
}
