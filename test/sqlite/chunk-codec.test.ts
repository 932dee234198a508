import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openChunkCodec, type ChunkCodec, type EncodedChunk } from '../../src/sqlite/chunks/chunk-codec.js';
import { chunkPlaces, chunkRuns } from '../../src/sqlite/chunks/chunk-plan.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'persistd-chunk-codec-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A standalone copy of `bytes` (the codec hands buffers to other threads). */
function own(bytes: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return copy;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe.each([
  ['worker threads', 2, 3],
  ['the calling thread', 2, 1],
])('the chunk codec on %s', (_label, threads, chunks) => {
  let codec: ChunkCodec;
  beforeEach(() => {
    codec = openChunkCodec(threads, chunks);
  });
  afterEach(() => codec.close());

  /** Decodes `encoded` (the frame of `raw`) into `fd` at `position`. */
  const decodeInto = (encoded: EncodedChunk, raw: Uint8Array, fd: number, position: number) =>
    codec.decode({ input: own(encoded.output), length: encoded.output.length, rawSize: raw.length, sha256: encoded.sha256, fd, position });

  it('compresses a chunk and gets it back, checked and written at its offset', async () => {
    const raw = Buffer.concat([randomBytes(100_000), Buffer.alloc(200_000, 'a')]);
    const encoded = await codec.encode(own(raw), raw.length, 1);
    expect(encoded.sha256).toBe(sha256(raw));
    expect(encoded.output.length).toBeLessThan(raw.length);
    const handle = await open(join(dir, 'out'), 'w');
    try {
      expect((await decodeInto(encoded, raw, handle.fd, 4096)).error).toBeUndefined();
    } finally {
      await handle.close();
    }
    expect((await readFile(join(dir, 'out'))).subarray(4096).equals(raw)).toBe(true);
  });

  it('compresses into a buffer given back for reuse, and into a new one when it is too small', async () => {
    const first = randomBytes(60_000);
    const second = Buffer.alloc(60_000, 'b');
    const a = await codec.encode(own(first), first.length, 1);
    const reused = a.output.buffer.byteLength;
    const b = await codec.encode(own(second), second.length, 1, a.output.buffer as ArrayBuffer);
    const c = await codec.encode(own(first), first.length, 1, new ArrayBuffer(16));
    expect(b.output.buffer.byteLength).toBe(reused);
    expect(c.output.buffer.byteLength).toBeGreaterThan(16);
    const handle = await open(join(dir, 'reused'), 'w');
    try {
      for (const [encoded, raw, position] of [[b, second, 0] as const, [c, first, 60_000] as const]) {
        expect((await decodeInto(encoded, raw, handle.fd, position)).error).toBeUndefined();
      }
    } finally {
      await handle.close();
    }
    expect((await readFile(join(dir, 'reused'))).equals(Buffer.concat([second, first]))).toBe(true);
  });

  it('refuses a chunk whose bytes do not match the index, and writes nothing', async () => {
    const raw = randomBytes(50_000);
    const encoded = await codec.encode(own(raw), raw.length, 1);
    const handle = await open(join(dir, 'bad'), 'w');
    try {
      const wrongHash = await codec.decode({
        input: own(encoded.output),
        length: encoded.output.length,
        rawSize: raw.length,
        sha256: 'b'.repeat(64),
        fd: handle.fd,
        position: 0,
      });
      expect(wrongHash.error).toMatchObject({ kind: 'integrity', message: expect.stringMatching(/sha256/) });
      const wrongSize = await codec.decode({
        input: own(encoded.output),
        length: encoded.output.length,
        rawSize: raw.length + 1,
        sha256: encoded.sha256,
        fd: handle.fd,
        position: 0,
      });
      expect(wrongSize.error).toMatchObject({ kind: 'integrity' });
      const garbage = randomBytes(1000);
      const notZstd = await codec.decode({
        input: own(garbage),
        length: garbage.length,
        rawSize: 1000,
        sha256: sha256(garbage),
        fd: handle.fd,
        position: 0,
      });
      expect(notZstd.error).toMatchObject({ kind: 'integrity', message: expect.stringMatching(/zstd/) });
    } finally {
      await handle.close();
    }
    expect((await readFile(join(dir, 'bad'))).length).toBe(0);
  });
});

describe('worker threads that are gone', () => {
  it('fail the next task at once instead of leaving it waiting', async () => {
    const codec = openChunkCodec(2, 3);
    await codec.close();
    await expect(codec.encode(new ArrayBuffer(10), 10, 1)).rejects.toThrow(/exited|no chunk worker/);
  });
});

describe('chunk places and runs', () => {
  it('place each frame after the ones before it and group them into runs of about the asked size', () => {
    const places = chunkPlaces(
      { size: 4096, compressed: [100, 200, 300, 400], sha256: ['a', 'b', 'c', 'd'].map((c) => c.repeat(64)) },
      3 * 4096 + 10,
    );
    expect(places.map((p) => [p.offset, p.position, p.rawSize])).toEqual([
      [0, 0, 4096],
      [100, 4096, 4096],
      [300, 8192, 4096],
      [600, 12288, 10],
    ]);
    expect(chunkRuns(places, 250).map((r) => r.chunks.map((c) => c.index))).toEqual([[0, 1], [2], [3]]);
  });
});
