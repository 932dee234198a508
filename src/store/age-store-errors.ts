import { PersistdError } from '../errors.js';
import { AgeDecryptError } from '../crypto/age-decrypt.js';

const IDENTITY_HINT =
  'set PERSISTD_AGE_IDENTITY (or --age-identity) to the path of the age identity file (age-keygen -o key.txt) or to its AGE-SECRET-KEY-1... line';

/** The replica is encrypted and this persistd was given no age key at all. */
export function encryptedReplicaWithoutKeys(description: string, fingerprints: readonly string[]): PersistdError {
  return new PersistdError(
    `the replica ${description} is encrypted with age (recipients ${fingerprints.join(', ')}) and no age key was given`,
    {
      kind: 'usage',
      op: 'open replica',
      hint: `to restore or read it, ${IDENTITY_HINT}; to back up into it, set PERSISTD_AGE_RECIPIENTS (or --age-recipient) to its age1... recipients`,
    },
  );
}

/** An encrypted write into a replica whose marker does not record encryption yet (switchOn() was not called). */
export function notSwitchedYet(description: string): PersistdError {
  return new PersistdError(`the replica ${description} is not encrypted yet, and age keys were given`, {
    kind: 'usage',
    op: 'encrypt',
    hint: 'persistd run and persistd backup switch encryption on for an existing replica before they write; run one of them (or unset PERSISTD_AGE_RECIPIENTS and PERSISTD_AGE_IDENTITY to keep it plaintext)',
  });
}

/** An encrypted object had to be read and no identity was given (a writer that holds only the recipients). */
export class IdentityRequiredError extends PersistdError {
  constructor(key: string) {
    super(`${key} is encrypted with age and no identity was given to decrypt it`, {
      kind: 'usage',
      op: 'decrypt',
      path: key,
      hint: IDENTITY_HINT,
    });
  }
}

/** An IdentityRequiredError for `key`. */
export function identityRequired(key: string): IdentityRequiredError {
  return new IdentityRequiredError(key);
}

/** The writer's recipients are none of the replica's. */
export function recipientsDiffer(description: string, replica: readonly string[], given: readonly string[]): PersistdError {
  return new PersistdError(
    `the replica ${description} is encrypted to recipients ${replica.join(', ')}, none of which is among the ones given (${given.join(', ')})`,
    {
      kind: 'usage',
      op: 'encrypt',
      hint: "give the replica's own age1... recipients in PERSISTD_AGE_RECIPIENTS (the fingerprints are the first 16 hex digits of sha256 of each), or point --to at a new prefix for other keys",
    },
  );
}

/** A decryption failure as users see it: a wrong identity is a usage error, anything else damage or tampering. */
export function decryptFailure(err: unknown, key: string): Error {
  if (!(err instanceof AgeDecryptError)) return err instanceof Error ? err : new Error(String(err));
  switch (err.reason) {
    case 'no-identity':
      return new PersistdError(`${key} cannot be decrypted with the age identity given: ${err.message}`, {
        kind: 'usage',
        op: 'decrypt',
        path: key,
        cause: err,
        hint: "give the identity (AGE-SECRET-KEY-1...) whose recipient the replica was encrypted to; `persistd doctor` shows the replica's recipient fingerprints and the identity's",
      });
    case 'not-age':
      return new PersistdError(`${key} is not encrypted, in an encrypted replica: ${err.message}`, {
        kind: 'integrity',
        op: 'decrypt',
        path: key,
        cause: err,
        hint: 'something other than persistd wrote this object; it was not used and nothing local was changed',
      });
    case 'corrupt':
      return new PersistdError(`${key} failed authentication: ${err.message}`, {
        kind: 'integrity',
        op: 'decrypt',
        path: key,
        cause: err,
        hint: 'the object was altered, truncated or moved from another key in the store; it was not used and nothing local was changed',
      });
  }
}
