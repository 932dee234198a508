import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { fromBase64, toBase64, type AgeStanza } from './age-header.js';
import type { AgeIdentity, AgeRecipient } from './age-keys.js';
import { x25519, x25519Ephemeral, x25519PublicKey } from './x25519.js';

const INFO = 'age-encryption.org/v1/X25519';
const ZERO_NONCE = Buffer.alloc(12);

function wrapKey(sharedSecret: Buffer, share: Buffer, recipientRaw: Buffer): Buffer {
  if (sharedSecret.every((b) => b === 0)) throw new Error('X25519 produced an all-zero shared secret');
  return Buffer.from(hkdfSync('sha256', sharedSecret, Buffer.concat([share, recipientRaw]), INFO, 32));
}

/** The `X25519` stanza that gives `fileKey` to `recipient`. */
export function wrapFileKey(fileKey: Buffer, recipient: AgeRecipient): AgeStanza {
  const { privateKey, share } = x25519Ephemeral();
  const key = wrapKey(x25519(privateKey, recipient.publicKey), share, recipient.raw);
  const cipher = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
  const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
  return { type: 'X25519', args: [toBase64(share)], body };
}

/** The file key `stanza` holds for `identity`, or undefined when the stanza is not for it. */
export function unwrapFileKey(stanza: AgeStanza, identity: AgeIdentity): Buffer | undefined {
  if (stanza.type !== 'X25519' || stanza.args.length !== 1 || stanza.body.length !== 32) return undefined;
  const share = fromBase64(stanza.args[0]!);
  if (share.length !== 32) return undefined;
  let key: Buffer;
  try {
    key = wrapKey(x25519(identity.privateKey, x25519PublicKey(share)), share, identity.recipient.raw);
  } catch {
    return undefined;
  }
  const decipher = createDecipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
  decipher.setAuthTag(stanza.body.subarray(16));
  try {
    return Buffer.concat([decipher.update(stanza.body.subarray(0, 16)), decipher.final()]);
  } catch {
    return undefined;
  }
}
