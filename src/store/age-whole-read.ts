import { pipeline, type Readable } from 'node:stream';
import { AgeDecryptError, createAgeDecryptStream } from '../crypto/age-decrypt.js';
import type { AgeIdentity } from '../crypto/age-keys.js';
import { PAYLOAD_NONCE_SIZE } from '../crypto/age-stream.js';
import { openEnvelope, plaintextSizeAfter, stampOfNonce, type OpenedEnvelope } from '../crypto/object-envelope.js';
import type { ObjectWithInfo } from './object-store.js';

/** What a whole read of one object accepts, decided before its first byte (a reader cannot wait inside the stream). */
export interface WholeReadRules {
  identities: readonly AgeIdentity[];
  /** The keys the object may be bound to (acceptedBindings()). */
  bindings: readonly string[];
  /** Maps an AgeDecryptError to what the reader sees. */
  mapError: (err: unknown) => Error;
  /** Set when an age file is refused here (a replica whose marker says plaintext). */
  ageRefused: Error | undefined;
  /** Set when plaintext is refused here (stored after the switch, or never allowed). */
  plaintextRefused: Error | undefined;
  /** Throws for a write stamp older than the file's recorded version (undefined: no stamp). */
  checkStamp: (stamp: number | undefined) => void;
}

/** An object opened for a whole read: its plaintext stream, with its envelope and plaintext size when it was an age file. */
export type WholeRead = { kind: 'plaintext'; body: Readable } | { kind: 'age'; body: Readable; envelope: OpenedEnvelope; size: number };

/**
 * Opens the body of `got` (an age file, or plaintext where the rules allow it): resolves once its header
 * and payload nonce are checked (or it proved plaintext), so the caller has the plaintext size and hash
 * before the body; a chunk that fails later fails the stream.
 */
export async function openWholeRead(got: ObjectWithInfo, key: string, rules: WholeReadRules): Promise<WholeRead> {
  let envelope: OpenedEnvelope | undefined;
  let plaintext = false;
  let prefixLength = 0;
  let headerRead: () => void = () => undefined;
  const decrypt = createAgeDecryptStream({
    identities: rules.identities,
    mapError: rules.mapError,
    onHeader: (header, fileKey) => {
      if (rules.ageRefused !== undefined) throw rules.ageRefused;
      envelope = openEnvelope(header, fileKey, rules.bindings);
      prefixLength = header.length + PAYLOAD_NONCE_SIZE;
    },
    onNonce: (nonce) => {
      rules.checkStamp(stampOfNonce(nonce));
      headerRead();
    },
    onNotAge: () => {
      if (rules.plaintextRefused !== undefined) throw rules.plaintextRefused;
      rules.checkStamp(undefined);
      plaintext = true;
      headerRead();
    },
  });
  await new Promise<void>((resolve, reject) => {
    headerRead = resolve;
    pipeline(got.body, decrypt, (err) => (err ? reject(err) : resolve()));
  });
  if (plaintext) return { kind: 'plaintext', body: decrypt };
  if (envelope === undefined) throw rules.mapError(new AgeDecryptError('corrupt', 'the object ended before its age header'));
  return { kind: 'age', body: decrypt, envelope, size: plaintextSizeAfter(prefixLength, got.info.size) ?? got.info.size };
}
