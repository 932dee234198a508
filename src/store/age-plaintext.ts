import { createHash } from 'node:crypto';
import { ageDecrypt } from '../crypto/age-decrypt.js';
import { ageEncrypt } from '../crypto/age-encrypt.js';
import type { AgeIdentity, AgeRecipient } from '../crypto/age-keys.js';
import { envelopeStanzas, openEnvelope } from '../crypto/object-envelope.js';
import { PersistdError } from '../errors.js';
import { REPLICA_MARKER_KEY, type ReplicaEncryption } from '../format/replica-marker.js';

// A replica that held plaintext when encryption was switched on keeps its older objects as they are
// (docs/FORMAT.md "Encryption (format 2)", "Switching encryption on"). The marker then says from when
// objects are encrypted, in the store's own clock, and seals that time for the recipients: the marker
// itself is plaintext, and a `plaintextBefore` someone moved forward would let plaintext they put in
// the bucket after the switch pass as older.

/** The sealed text: the replica's id and the time, so a seal cannot be carried over from another replica. */
function sealText(replicaId: string, plaintextBefore: string): Buffer {
  return Buffer.from(JSON.stringify({ replica: replicaId, plaintextBefore }), 'utf8');
}

/** `plaintextBefore` sealed for `recipients`: an age file bound to the marker's key, base64. */
export function sealPlaintextBefore(recipients: readonly AgeRecipient[], replicaId: string, plaintextBefore: string): string {
  const text = sealText(replicaId, plaintextBefore);
  const sha256 = createHash('sha256').update(text).digest('hex');
  return ageEncrypt(text, {
    recipients,
    extraStanzas: (fileKey, n) => envelopeStanzas(fileKey, n, REPLICA_MARKER_KEY, sha256),
  }).toString('base64');
}

/**
 * The time before which the replica's objects may be plaintext, in ms since the epoch, checked against its
 * seal; undefined when encryption was on from the start (no plaintext object is then accepted). Throws an
 * integrity error when the time and its seal disagree, or a usage error when no identity opens the seal.
 */
export function trustedPlaintextBefore(
  encryption: ReplicaEncryption,
  replicaId: string | undefined,
  identities: readonly AgeIdentity[],
): number | undefined {
  const { plaintextBefore, plaintextBeforeSeal } = encryption;
  if (plaintextBefore === undefined && plaintextBeforeSeal === undefined) return undefined;
  const refuse = (why: string): PersistdError =>
    new PersistdError(`the replica marker's plaintextBefore cannot be trusted: ${why}`, {
      kind: 'integrity',
      op: 'read replica format',
      path: REPLICA_MARKER_KEY,
      hint: 'the marker (persistd.json) was altered in the store; no plaintext object of this replica is used until it is restored from a copy',
    });
  const ms = plaintextBefore === undefined ? NaN : Date.parse(plaintextBefore);
  if (typeof plaintextBefore !== 'string' || !Number.isFinite(ms) || ms % 1000 !== 0) throw refuse('it is not a whole-second time');
  if (typeof plaintextBeforeSeal !== 'string' || replicaId === undefined) throw refuse('it is not sealed');
  let opened: Buffer;
  try {
    opened = ageDecrypt(Buffer.from(plaintextBeforeSeal, 'base64'), {
      identities,
      onHeader: (header, fileKey) => void openEnvelope(header, fileKey, [REPLICA_MARKER_KEY]),
    }).plaintext;
  } catch (err) {
    if ((err as { reason?: string }).reason === 'no-identity') {
      throw new PersistdError("the replica marker's plaintextBefore is sealed for recipients none of the identities given is", {
        kind: 'usage',
        op: 'read replica format',
        path: REPLICA_MARKER_KEY,
        hint: 'give the identity whose recipient the replica is encrypted to',
      });
    }
    throw refuse(`its seal does not open (${(err as Error).message})`);
  }
  if (!opened.equals(sealText(replicaId, plaintextBefore))) throw refuse('its seal names another time or replica');
  return ms;
}

/** Whole seconds of a store time: S3 dates objects to the second in HEAD and sometimes to the millisecond in listings. */
export function storeSecond(date: Date): number {
  return Math.floor(date.getTime() / 1000) * 1000;
}

/** Whether an object the store dates `lastModified` may be plaintext in a replica switched at `plaintextBefore` (ms). */
export function predatesSwitch(lastModified: Date, plaintextBefore: number | undefined): boolean {
  return plaintextBefore !== undefined && storeSecond(lastModified) < plaintextBefore;
}

/** A plaintext object where the replica allows none: stored after the switch, or in a replica encrypted from the start. */
export function plaintextRefused(key: string, lastModified: Date, plaintextBefore: number | undefined): PersistdError {
  const when =
    plaintextBefore === undefined
      ? 'in a replica encrypted from the start'
      : `stored ${lastModified.toISOString()}, after encryption was switched on (${new Date(plaintextBefore).toISOString()})`;
  return new PersistdError(`${key} is not encrypted, ${when}`, {
    kind: 'integrity',
    op: 'decrypt',
    path: key,
    hint: 'something other than persistd put this object there (plaintext in place of ciphertext is refused); it was not used and nothing local was changed',
  });
}

/** An age file where the marker says the replica holds plaintext: its `encryption` field was removed, or another instance switched it just now. */
export function encryptedInPlainReplica(key: string): PersistdError {
  return new PersistdError(`${key} is encrypted, but the replica marker says the replica is not`, {
    kind: 'integrity',
    op: 'decrypt',
    path: key,
    hint: 'if another instance just switched encryption on, run again; otherwise the marker (persistd.json) lost its encryption field in the store: restore it from a copy',
  });
}
