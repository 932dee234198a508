import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';

// Node takes keys only as KeyObjects. Raw bytes go in and out as JWK ({kty: 'OKP', crv: 'X25519'}):
// measured on Node 20, a JWK import or export costs 1-15 µs where DER costs 70-400 µs, which matters
// when every small file gets its own ephemeral key. A private key alone comes in as PKCS#8 DER (a JWK
// needs its public half too); that happens once per identity.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** A private X25519 key from its 32 raw bytes. */
export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

/** A public X25519 key from its 32 raw bytes. */
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** The 32 raw bytes of a public key (or of the public half of a private key). */
export function x25519RawPublic(key: KeyObject): Buffer {
  const x = key.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new Error('not an X25519 key');
  return Buffer.from(x, 'base64url');
}

/** A fresh key pair for one encryption: the private key and the raw public share. */
export function x25519Ephemeral(): { privateKey: KeyObject; share: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, share: x25519RawPublic(publicKey) };
}

/** The X25519 shared secret of a private and a public key. */
export function x25519(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  return diffieHellman({ privateKey, publicKey });
}
