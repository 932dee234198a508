import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Streams a whole file through sha256; returns the hex digest and the byte count read. */
export async function hashFile(path: string | Buffer, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** sha256 hex of bytes in memory. */
export function sha256Of(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
