// The two spellings of a file's path: the key text (format 2, docs/FORMAT.md "File names") and the text used in
// the process and the local index. Both must give back the exact bytes, and each path must have one spelling only.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyTextOf, localPathOf, relPathBytes, relPathOfBytes, relPathOfKeyText } from '../../src/files/local-name.js';
import { decodeKeyName, encodeKeyName } from '../../src/format/files-names.js';

/** Random names of bytes other than `/` and NUL, biased towards the interesting ones. */
function randomName(): Buffer {
  const pool = [0x5c, 0x25, 0x3a, 0x78, 0x63, 0xc3, 0xa9, 0xe9, 0xff, 0x80, 0xed, 0xa0, 0xf0, 0x9f, 0x98, 0x80, 0x41, 0x2e, 0x09];
  const bytes = [...randomBytes(1 + Math.floor(Math.random() * 12))].map((b) => (Math.random() < 0.6 ? pool[b % pool.length]! : b));
  return Buffer.from(bytes.map((b) => (b === 0 || b === 0x2f ? 0x61 : b)));
}

describe('file name spellings', () => {
  it('round-trip every byte sequence, through the key text and the local text', () => {
    for (let i = 0; i < 5000; i++) {
      const path = Buffer.concat([randomName(), ...(i % 3 === 0 ? [Buffer.from('/'), randomName()] : [])]);
      const key = encodeKeyName(path);
      const decoded = decodeKeyName(key);
      expect('bytes' in decoded && decoded.bytes.equals(path), `${path.toString('hex')} -> ${key}`).toBe(true);
      const text = relPathOfBytes(path);
      expect(relPathBytes(text)?.equals(path), `${path.toString('hex')} -> ${text}`).toBe(true);
      expect(keyTextOf(text)).toBe(key);
      const back = relPathOfKeyText(key);
      if ('relPath' in back) expect(back.relPath).toBe(text);
      else expect(back.why).toMatch(/segment/); // `.`/`..` segments are never restored
    }
  });

  it('keep every plain name as it is and escape only what 0.1 could not store', () => {
    for (const plain of ['a.txt', 'ünï/日本語.txt', 'percent%20%.txt', 'tab\there', 'sp ace/x', 'x-no-colon', '1:not-a-letter', 'ab:c']) {
      expect(encodeKeyName(Buffer.from(plain))).toBe(plain);
      expect(relPathOfBytes(Buffer.from(plain))).toBe(plain);
      expect(localPathOf('/root', plain)).toBe(`/root/${plain}`);
    }
    expect(encodeKeyName(Buffer.from('caf\xe9', 'latin1'))).toBe('x:caf%E9');
    expect(relPathOfBytes(Buffer.from('caf\xe9', 'latin1'))).toBe('caf\\xe9');
    expect(relPathOfBytes(Buffer.from('c:x/y'))).toBe('c\\x3ax/y');
    expect(localPathOf('/root', 'caf\\xe9')).toEqual(Buffer.concat([Buffer.from('/root/'), Buffer.from([0x63, 0x61, 0x66, 0xe9])]));
  });

  it('refuse every other spelling of a path, and the literal texts persistd 0.1 used', () => {
    for (const key of ['x:a.txt', 'x:%41', 'x:%e9', 'x:caf%', 'x:caf%E', 'x:a\\b', 'a\\b', 'c:drive', 'x:%C3%A9'])
      expect('why' in decodeKeyName(key), key).toBe(true);
    for (const text of ['a\\b', 'a\\x4', 'a\\x41', 'c:drive', 'a\\xE9']) expect(relPathBytes(text), text).toBeUndefined();
    expect(keyTextOf('back\\slash.txt')).toBeUndefined(); // the caller keeps 0.1's literal key for it
  });
});
