import { messageOf } from '../errors.js';
import type { ReplicaMarker } from '../format/replica-marker.js';
import { formatBytes } from '../log/human-format.js';
import type { Logger } from '../log/logger.js';
import { AgeStore } from '../store/age-store.js';
import { forEachLimited, plaintextFileObjects, type ReencryptOutcome } from '../store/age-switch.js';
import type { ObjectStore } from '../store/object-store.js';

/** Plaintext file objects re-encrypted at once. */
const REWRITE_WIDTH = 4;

/**
 * Before `run` or `backup` writes with age keys: a replica that holds plaintext has encryption switched on
 * (logged as a warning that says what stays readable), and the live directory and loose file objects still
 * plaintext from before the switch are stored again encrypted (at the switch, and at later starts with the
 * identity, until none is left). Returns the marker when this call switched the replica.
 */
export async function encryptExistingReplica(store: ObjectStore, logger: Logger, signal?: AbortSignal): Promise<ReplicaMarker | undefined> {
  if (!(store instanceof AgeStore)) return undefined;
  const switched = await store.switchOn(signal);
  if (switched?.encryption !== undefined) {
    logger.warn(
      { replica: store.description, plaintextBefore: switched.encryption.plaintextBefore },
      'encryption switched on for a replica that held plaintext: every object stored from now on is encrypted, and one stored ' +
        'later in plaintext is refused; the plaintext objects stored before stay readable by the storage provider until ' +
        'newer uploads or retention replace them (directory and loose files are stored again encrypted now, databases ' +
        'start a new generation with a full snapshot; trash copies expire with --keep-deleted; a versioned bucket keeps old versions)',
    );
  }
  const before = await store.plaintextBeforeToRewrite();
  if (before === undefined) return switched;
  const objects = await plaintextFileObjects(store, before, signal);
  if (objects.length === 0) return switched;
  const outcome: ReencryptOutcome = { rewritten: 0, bytes: 0, superseded: 0, failed: [] };
  await forEachLimited(objects, REWRITE_WIDTH, async (info) => {
    try {
      if (await store.rewriteEncrypted(info, signal)) {
        outcome.rewritten++;
        outcome.bytes += info.size;
      } else outcome.superseded++;
    } catch (err) {
      signal?.throwIfAborted();
      outcome.failed.push({ key: info.key, error: messageOf(err) });
    }
  });
  const summary = { rewritten: outcome.rewritten, bytes: outcome.bytes, superseded: outcome.superseded, failed: outcome.failed.length };
  if (outcome.failed.length === 0)
    logger.info(summary, `stored ${outcome.rewritten} plaintext file object(s) again encrypted (${formatBytes(outcome.bytes)})`);
  else
    logger.warn(
      { ...summary, first: outcome.failed.slice(0, 5) },
      `${outcome.failed.length} plaintext file object(s) could not be stored again encrypted; the next run or backup tries again`,
    );
  return switched;
}
