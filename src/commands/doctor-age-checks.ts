import { buffer } from 'node:stream/consumers';
import type { AgeSettings } from '../config/age-settings.js';
import { recipientFingerprint } from '../crypto/age-keys.js';
import { AGE_VERSION_LINE } from '../crypto/age-header.js';
import { isPlaintextKey } from '../format/encrypted-keys.js';
import { readReplicaMarker } from '../format/replica-marker.js';
import { predatesSwitch } from '../store/age-plaintext.js';
import type { ObjectStore } from '../store/object-store.js';
import { runCheck, type DoctorCheck } from './doctor-check.js';

/** Encrypted objects `doctor` looks at, at most. */
const SAMPLE = 5;

/**
 * Doctor's encryption checks: the keys fit each other (an identity given is one of the recipients) and
 * the replica (its marker's recipients; keys for a plaintext replica or none for an encrypted one are
 * refused), and a sample of the replica's objects are age files this identity decrypts. `store` is the
 * opened replica (decrypting), `raw` its backend (for looking at objects without keys).
 */
export async function checkEncryption(age: AgeSettings, store: ObjectStore, raw: ObjectStore, signal: AbortSignal): Promise<DoctorCheck[]> {
  const keyed = age.recipients.length > 0 || age.identities.length > 0;
  const given = age.recipients.map((r) => recipientFingerprint(r));
  const ids = age.identities.map((i) => recipientFingerprint(i.recipient));
  const checks: DoctorCheck[] = [];
  const keys = await runCheck('encryption keys', async () => {
    if (!keyed)
      return { status: 'ok', detail: 'none: objects are stored as they are (set PERSISTD_AGE_RECIPIENTS to encrypt a new replica)' };
    const marker = await readReplicaMarker(store, signal);
    const replica = marker?.encryption?.recipients ?? [];
    const parts = [
      `recipients ${given.join(', ') || `none (encrypting to the identity's own: ${ids.join(', ')})`}`,
      `identity ${age.identitySource === undefined ? 'none (backups only; restores need it)' : `${ids.join(', ')} (${age.identitySource})`}`,
    ];
    if (marker?.encryption) parts.push(`replica encrypted to ${replica.join(', ') || 'unrecorded recipients'}`);
    else
      parts.push(
        marker ? 'replica holds plaintext: the next run or backup switches encryption on' : 'replica new: it will be created encrypted',
      );
    if (marker?.encryption?.plaintextBefore !== undefined)
      parts.push(`encrypted since ${marker.encryption.plaintextBefore} (older objects may be plaintext)`);
    if (ids.length > 0 && given.length > 0 && !ids.some((f) => given.includes(f))) {
      return {
        status: 'fail',
        detail: `${parts.join('; ')}: the identity is none of the recipients, so it cannot read what is written`,
        hint: 'give the identity of one of the --age-recipient keys (age-keygen -y key.txt prints its recipient)',
      };
    }
    if (replica.length > 0 && ids.length > 0 && !ids.some((f) => replica.includes(f))) {
      return {
        status: 'fail',
        detail: `${parts.join('; ')}: the identity is not one the replica is encrypted to`,
        hint: 'give the identity whose public key the replica was set up with',
      };
    }
    return { status: 'ok', detail: parts.join('; ') };
  });
  checks.push(keys);
  if (!keyed || keys.status === 'fail') return checks;
  checks.push(
    await runCheck('encrypted objects', async () => {
      const encryption = (await readReplicaMarker(store, signal))?.encryption;
      if (encryption === undefined) return { status: 'ok', detail: 'none yet: the replica holds plaintext until the next run or backup' };
      const before = encryption.plaintextBefore === undefined ? undefined : Date.parse(encryption.plaintextBefore);
      const sample: string[] = [];
      let older = 0;
      for await (const info of raw.list('', { signal })) {
        if (isPlaintextKey(info.key) || info.size === 0) continue;
        // From before encryption was switched on: plaintext, and not what this check is about.
        if (predatesSwitch(info.lastModified, before)) older++;
        else sample.push(info.key);
        if (sample.length >= SAMPLE) break;
      }
      if (sample.length === 0) return { status: 'ok', detail: 'no encrypted object yet' };
      for (const key of sample) {
        const head = await buffer(await raw.get(key, { range: { start: 0, end: AGE_VERSION_LINE.length }, signal }));
        if (head.toString('latin1') !== `${AGE_VERSION_LINE}\n`) {
          return {
            status: 'fail',
            detail: `${key} is not an age file: the replica holds plaintext`,
            hint: 'point --to at a new prefix for an encrypted replica',
          };
        }
        // Reading one byte opens the header with the identity and checks the key the object is bound to.
        if (ids.length > 0) await buffer((await store.getWithInfo(key, { range: { start: 0, end: 0 }, signal })).body);
      }
      return {
        status: 'ok',
        detail:
          `${sample.length} object(s) looked at: age files${ids.length > 0 ? ' this identity decrypts' : ' (no identity to try them with)'}` +
          (older > 0 ? `; ${older} object(s) from before encryption was switched on skipped` : ''),
      };
    }),
  );
  return checks;
}
