import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { bech32Decode, bech32Encode } from './bech32.js';
import { x25519PrivateKey, x25519PublicKey, x25519RawPublic } from './x25519.js';

/** An age X25519 recipient (`age1...`): a public key. */
export interface AgeRecipient {
  /** The `age1...` string. */
  readonly text: string;
  readonly publicKey: KeyObject;
  /** The raw 32 bytes, as the stanza's HKDF salt needs them. */
  readonly raw: Buffer;
}

/** An age X25519 identity (`AGE-SECRET-KEY-1...`): a private key. Its text is never kept, so it cannot be printed by accident. */
export interface AgeIdentity {
  readonly privateKey: KeyObject;
  /** The identity's own recipient. */
  readonly recipient: AgeRecipient;
}

const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'age-secret-key-';

/** Why a key string was refused; never contains the key itself. */
export class AgeKeyError extends Error {}

/** Parses an `age1...` recipient; throws AgeKeyError when it is not one. */
export function parseRecipient(text: string): AgeRecipient {
  const trimmed = text.trim();
  const decoded = trimmed.startsWith('age1') ? bech32Decode(trimmed) : undefined;
  if (decoded === undefined || decoded.hrp !== RECIPIENT_HRP || decoded.data.length !== 32) {
    throw new AgeKeyError(`"${printablePrefix(trimmed)}" is not an age X25519 recipient (age1 followed by 58 characters)`);
  }
  return { text: trimmed, publicKey: x25519PublicKey(decoded.data), raw: decoded.data };
}

/** Parses an `AGE-SECRET-KEY-1...` identity; throws AgeKeyError (without the key in its message) when it is not one. */
export function parseIdentity(text: string): AgeIdentity {
  const trimmed = text.trim();
  const decoded = trimmed.startsWith('AGE-SECRET-KEY-1') ? bech32Decode(trimmed) : undefined;
  if (decoded === undefined || decoded.hrp !== IDENTITY_HRP || decoded.data.length !== 32) {
    throw new AgeKeyError('not an age X25519 identity (AGE-SECRET-KEY-1 followed by 58 upper-case characters)');
  }
  const privateKey = x25519PrivateKey(decoded.data);
  decoded.data.fill(0);
  const raw = x25519RawPublic(privateKey);
  return { privateKey, recipient: { text: bech32Encode(RECIPIENT_HRP, raw), publicKey: x25519PublicKey(raw), raw } };
}

/**
 * The identities of an age identity file's text: one `AGE-SECRET-KEY-1...` per line, `#` comments and
 * blank lines ignored (the format `age-keygen` writes). Throws AgeKeyError naming the bad line's number.
 */
export function parseIdentityFile(text: string): AgeIdentity[] {
  const identities: AgeIdentity[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    try {
      identities.push(parseIdentity(trimmed));
    } catch {
      throw new AgeKeyError(
        `line ${index + 1} is not an age X25519 identity (only AGE-SECRET-KEY-1... lines and # comments are supported)`,
      );
    }
  }
  if (identities.length === 0) throw new AgeKeyError('no AGE-SECRET-KEY-1... line in it');
  return identities;
}

/** A new identity, as `age-keygen` makes one: its secret string and its recipient. */
export function generateIdentity(): { secret: string; recipient: string } {
  const raw = randomBytes(32);
  const secret = bech32Encode(IDENTITY_HRP, raw).toUpperCase();
  return { secret, recipient: parseIdentity(secret).recipient.text };
}

/** A short, stable name of a recipient that reveals nothing usable: the first 16 hex digits of SHA-256 of its `age1...` text. */
export function recipientFingerprint(recipient: AgeRecipient | string): string {
  const text = typeof recipient === 'string' ? recipient : recipient.text;
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function printablePrefix(text: string): string {
  // A mistaken secret key must not be echoed back whole.
  if (text.toUpperCase().startsWith('AGE-SECRET-KEY-')) return 'AGE-SECRET-KEY-…';
  return text.length > 12 ? `${text.slice(0, 12)}…` : text;
}
