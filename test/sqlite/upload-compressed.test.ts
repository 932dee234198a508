import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipFileInMembers } from '../../src/sqlite/parallel-gzip.js';
import { uploadCompressedFile } from '../../src/sqlite/upload-compressed.js';
import { makeScratch, type Scratch } from './sqlite-fixtures.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Half random, half repetitive: compressible, and different in every member. */
function sample(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let offset = 0; offset < bytes; offset += 8192) {
    randomBytes(4096).copy(out, offset);
    out.fill(offset % 251, Math.min(bytes, offset + 4096), Math.min(bytes, offset + 8192));
  }
  return out;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** How often the gzip member magic (1f 8b 08) occurs: at least once per member (compressed bytes may add a stray one). */
function countMembers(gz: Buffer): number {
  let members = 0;
  for (let i = 0; i + 2 < gz.length; i++) if (gz[i] === 0x1f && gz[i + 1] === 0x8b && gz[i + 2] === 0x08) members++;
  return members;
}

describe('parallel gzip: a multi-member stream every gunzip reads', () => {
  let s: Scratch;
  beforeAll(async () => (s = await makeScratch('upload-compressed')));
  afterAll(async () => s.cleanup());

  it('uploads a file as in-order gzip members whose digests match the bytes, readable by Node and by gzip -d', async () => {
    const data = sample(5 * (256 << 10) + 12345); // 5 full members and a short one
    const file = join(s.dir, 'input.bin');
    await writeFile(file, data);
    const digests = await uploadCompressedFile(s.store, 'obj.gz', file, { memberSize: 256 << 10, compressionConcurrency: 3 });
    const stored = await readAll(await s.store.get('obj.gz'));

    expect(digests.raw).toEqual({ size: data.length, sha256: sha256(data) });
    expect(digests.compressed).toEqual({ size: stored.length, sha256: sha256(stored) });
    expect(stored.length).toBeLessThan(data.length * 0.75);
    expect(countMembers(stored)).toBeGreaterThanOrEqual(6);

    expect(sha256(gunzipSync(stored))).toBe(sha256(data));
    const streamed = await readAll(Readable.from([stored]).pipe(createGunzip()));
    expect(sha256(streamed)).toBe(sha256(data));
    const byGzip = execFileSync('gzip', ['-dc'], { input: stored, maxBuffer: 64 << 20 });
    expect(sha256(byGzip)).toBe(sha256(data));
  });

  it('keeps members in file order when later ones finish first, and makes a valid stream of an empty file', async () => {
    // Incompressible members first, highly compressible ones after: completion order differs from file order.
    const data = Buffer.concat([randomBytes(200_000), Buffer.alloc(3 << 20, 7), randomBytes(100_000), Buffer.alloc(2 << 20, 9)]);
    const file = join(s.dir, 'mixed.bin');
    await writeFile(file, data);
    const out = await readAll(Readable.from(gzipFileInMembers(file, { memberSize: 64 << 10, concurrency: 4 })));
    expect(sha256(gunzipSync(out))).toBe(sha256(data));

    await writeFile(join(s.dir, 'empty.bin'), '');
    const empty = await readAll(Readable.from(gzipFileInMembers(join(s.dir, 'empty.bin'))));
    expect(gunzipSync(empty).length).toBe(0);
  });

  it('stores members that do not compress and compresses the others, and the stream reads back whole', async () => {
    // 1 MiB members: random bytes (stored), text (compressed), random again, half random half text.
    const text = Buffer.from('persistd keeps SQLite databases and uploads of apps on ephemeral containers. '.repeat(14_000)).subarray(
      0,
      1 << 20,
    );
    const half = Buffer.concat([randomBytes(1 << 19), text.subarray(0, 1 << 19)]);
    const data = Buffer.concat([randomBytes(1 << 20), text, randomBytes(1 << 20), half]);
    const file = join(s.dir, 'kinds.bin');
    await writeFile(file, data);
    const members: Buffer[] = [];
    for await (const member of gzipFileInMembers(file, { memberSize: 1 << 20, concurrency: 2 })) members.push(member);
    expect(members).toHaveLength(4);
    // A stored member costs its bytes plus a few per 64 KiB block; a compressed one is much smaller.
    expect(members[0]!.length).toBeGreaterThan(1 << 20);
    expect(members[1]!.length).toBeLessThan(1 << 16);
    expect(members[2]!.length).toBeGreaterThan(1 << 20);
    expect(sha256(gunzipSync(Buffer.concat(members)))).toBe(sha256(data));
    expect(sha256(execFileSync('gzip', ['-dc'], { input: Buffer.concat(members), maxBuffer: 64 << 20 }))).toBe(sha256(data));
  });

  it('reads the file only as fast as the output is taken (bounded memory)', async () => {
    const memberSize = 64 << 10;
    const file = join(s.dir, 'large.bin');
    await writeFile(file, randomBytes(64 * memberSize));
    let read = 0;
    const members = gzipFileInMembers(file, { memberSize, concurrency: 2, onRead: (bytes) => (read += bytes.length) });
    let taken = 0;
    for await (const member of members) {
      taken++;
      // Whatever the consumer's pace, at most `concurrency` members are read ahead of what it took.
      expect(read).toBeLessThanOrEqual((taken + 2) * memberSize);
      expect(member.length).toBeGreaterThan(0);
    }
    expect(taken).toBe(64);
    expect(read).toBe(64 * memberSize);
  });
});
