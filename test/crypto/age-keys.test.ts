import { describe, expect, it } from 'vitest';
import { bech32Decode, bech32Encode } from '../../src/crypto/bech32.js';
import {
  AgeKeyError,
  generateIdentity,
  parseIdentity,
  parseIdentityFile,
  parseRecipient,
  recipientFingerprint,
} from '../../src/crypto/age-keys.js';

// A known pair from the age specification's test vectors is not needed: age-cli.test.ts checks pairs against age-keygen.
describe('age keys', () => {
  it('round-trips bech32 and refuses a changed character or mixed case', () => {
    const bytes = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
    const text = bech32Encode('age', bytes);
    expect(bech32Decode(text)?.data.equals(bytes)).toBe(true);
    const changed = `${text.slice(0, 10)}${text[10] === 'q' ? 'p' : 'q'}${text.slice(11)}`;
    expect(bech32Decode(changed)).toBeUndefined();
    expect(bech32Decode(`${text.slice(0, 5).toUpperCase()}${text.slice(5)}`)).toBeUndefined();
  });

  it('never repeats a secret key in an error, whatever it is mistaken for', () => {
    const { secret } = generateIdentity();
    const damaged = `${secret.slice(0, 30)}${secret[30] === 'Q' ? 'P' : 'Q'}${secret.slice(31)}`;
    const messages: string[] = [];
    for (const attempt of [
      () => parseIdentity(damaged),
      () => parseRecipient(secret),
      () => parseRecipient(damaged),
      () => parseIdentityFile(`# key\n${damaged}\n`),
    ]) {
      try {
        attempt();
        messages.push('accepted');
      } catch (err) {
        expect(err).toBeInstanceOf(AgeKeyError);
        messages.push((err as Error).message);
      }
    }
    expect(messages).toHaveLength(4);
    for (const message of messages) {
      expect(message).not.toBe('accepted');
      expect(message).not.toContain(secret.slice(16, 40));
      expect(message).not.toContain(damaged.slice(16, 40));
    }
    expect(messages[3]).toContain('line 2');
  });

  it('fingerprints a recipient without revealing it, the same for its text and parsed form', () => {
    const { recipient } = generateIdentity();
    const fingerprint = recipientFingerprint(recipient);
    expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(recipientFingerprint(parseRecipient(recipient))).toBe(fingerprint);
    expect(recipient).not.toContain(fingerprint);
  });

  it('refuses an identity file with no key in it', () => {
    expect(() => parseIdentityFile('# only a comment\n\n')).toThrow(/no AGE-SECRET-KEY-1/);
  });
});
