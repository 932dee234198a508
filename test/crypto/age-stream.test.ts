import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { createAgeDecryptStream } from '../../src/crypto/age-decrypt.js';
import { ageEncrypt, createAgeEncryptStream } from '../../src/crypto/age-encrypt.js';
import { generateIdentity, parseIdentity } from '../../src/crypto/age-keys.js';

const identity = parseIdentity(generateIdentity().secret);

function inPieces(bytes: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

// Piece sizes around the 16-byte tag and the 65,552-byte sealed chunk, so that tags and chunks straddle pieces.
describe('age streams fed in pieces of every awkward size', () => {
  for (const size of [0, 1, 65_536, 65_537, 200_000]) {
    it(`round-trips ${size} bytes`, async () => {
      const plain = randomBytes(size);
      const file = ageEncrypt(plain, { recipients: [identity.recipient] });
      for (const piece of [1, 7, 16, 17, 65_535, 65_552, 65_553]) {
        if (piece < 16 && file.length > 100_000) continue; // a million tiny pieces prove nothing more
        const opened = await buffer(inPieces(file, piece).pipe(createAgeDecryptStream({ identities: [identity] })));
        expect(opened.equals(plain), `pieces of ${piece}`).toBe(true);
        const sealed = await buffer(inPieces(plain, Math.max(piece, 1)).pipe(createAgeEncryptStream({ recipients: [identity.recipient] })));
        expect(sealed.length, `pieces of ${piece}`).toBe(file.length);
      }
    });
  }
});
