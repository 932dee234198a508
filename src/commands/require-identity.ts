import type { AgeSettings } from '../config/age-settings.js';
import { recipientFingerprint } from '../crypto/age-keys.js';
import { PersistdError } from '../errors.js';
import type { ReplicaMarker } from '../format/replica-marker.js';

/**
 * Before a restore touches anything: an encrypted replica needs an identity, and one of the identities
 * given must be a recipient the marker records. Fails with a usage error (exit 2) naming what to set.
 */
export function requireIdentityFor(marker: ReplicaMarker | undefined, age: AgeSettings, description: string): void {
  const encryption = marker?.encryption;
  if (encryption === undefined) return;
  if (age.identities.length === 0) {
    throw new PersistdError(`the replica ${description} is encrypted with age and no identity was given to restore it`, {
      kind: 'usage',
      op: 'restore',
      hint: 'set PERSISTD_AGE_IDENTITY (or --age-identity) to the path of the age identity file (age-keygen -o key.txt) or to its AGE-SECRET-KEY-1... line',
    });
  }
  const given = age.identities.map((identity) => recipientFingerprint(identity.recipient));
  if (encryption.recipients.length > 0 && !given.some((fingerprint) => encryption.recipients.includes(fingerprint))) {
    throw new PersistdError(
      `the age identity given (recipient ${given.join(', ')}) is not one the replica ${description} is encrypted to (${encryption.recipients.join(', ')})`,
      {
        kind: 'usage',
        op: 'restore',
        hint: 'give the identity whose public key (age-keygen -y key.txt) the replica was set up with; fingerprints are the first 16 hex digits of sha256 of the age1... text',
      },
    );
  }
}
