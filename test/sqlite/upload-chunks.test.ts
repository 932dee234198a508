import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uploadChunks } from '../../src/sqlite/chunks/upload-chunks.js';
import type { ObjectInfo, ObjectStore, PutBody } from '../../src/store/object-store.js';

const zstd = createRequire(import.meta.url)('zstd-napi') as { decompress(data: Uint8Array): Buffer };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'persistd-upload-chunks-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A store whose upload keeps a reference to every piece it is given until the end (as a store may). */
function keepingStore(): { store: ObjectStore; pieces: Buffer[] } {
  const pieces: Buffer[] = [];
  const put = async (key: string, body: PutBody): Promise<ObjectInfo> => {
    for await (const piece of body as Readable) pieces.push(piece as Buffer);
    const size = pieces.reduce((n, p) => n + p.length, 0);
    return { key, size, etag: 'x', lastModified: new Date() };
  };
  return { store: { put } as unknown as ObjectStore, pieces };
}

describe('uploadChunks', () => {
  it.each([
    ['worker threads', 1],
    ['two worker threads', 2],
  ])('hands the store pieces it may keep: frames are compressed into reused buffers, never handed out (%s)', async (_label, threads) => {
    // 10 chunks of 64 KiB, each different, half random and half compressible.
    const chunkSize = 64 << 10;
    const raw = Buffer.concat(
      Array.from({ length: 10 }, (_, i) => Buffer.concat([randomBytes(chunkSize / 2), Buffer.alloc(chunkSize / 2, i)])),
    );
    await writeFile(join(dir, 'db'), raw);
    const { store, pieces } = keepingStore();
    const uploaded = await uploadChunks(store, 'data', join(dir, 'db'), { chunkSize, threads });
    const object = Buffer.concat(pieces);
    expect(object.length).toBe(uploaded.size);
    let offset = 0;
    uploaded.chunks.compressed.forEach((length, i) => {
      const chunk = zstd.decompress(object.subarray(offset, offset + length));
      expect(chunk.equals(raw.subarray(i * chunkSize, (i + 1) * chunkSize)), `chunk ${i}`).toBe(true);
      expect(uploaded.chunks.sha256[i]).toBe(createHash('sha256').update(chunk).digest('hex'));
      offset += length;
    });
    expect(offset).toBe(object.length);
  });
});
