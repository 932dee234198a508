import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { recipientFingerprint, type AgeIdentity, type AgeRecipient } from '../crypto/age-keys.js';
import { REPLICA_MARKER_KEY, type ReplicaEncryption } from '../format/replica-marker.js';
import { markerView, type MarkerView } from './age-marker-view.js';
import { plaintextRefused, predatesSwitch, trustedPlaintextBefore } from './age-plaintext.js';
import { encryptedReplicaWithoutKeys, notSwitchedYet, recipientsDiffer } from './age-store-errors.js';
import type { GetOptions, ObjectInfo, ObjectStore, ObjectWithInfo, PutBody } from './object-store.js';

/**
 * What AgeStore knows of the replica marker (docs/FORMAT.md "Encryption (format 2)"), and the refusals
 * that follow from it: no keys for an encrypted replica, encrypted writes into one not switched yet,
 * recipients that are none of the replica's, plaintext where the replica allows none. The marker is read
 * once (or learnt from a command's read or write of it).
 */
export class AgeMarkerGuard {
  private marker: Promise<MarkerView> | undefined;
  /** The marker's plaintextBefore checked against its seal (readers with an identity), once needed. */
  private plainBefore: Promise<number | undefined> | undefined;

  constructor(
    private readonly inner: ObjectStore,
    /** What new objects are encrypted to: empty for a store without keys. */
    private readonly encryptTo: readonly AgeRecipient[],
    private readonly identities: readonly AgeIdentity[],
  ) {}

  /** Takes what the marker says now; `plaintextBefore` when this process just set it (no seal to check). */
  learn(view: MarkerView, plaintextBefore?: number): void {
    this.marker = Promise.resolve(view);
    this.plainBefore = plaintextBefore === undefined ? undefined : Promise.resolve(plaintextBefore);
  }

  /** Reads the marker through, learning what it says about encryption (a refusal fails the read itself). */
  async readMarker(options: GetOptions): Promise<ObjectWithInfo> {
    const got = await this.inner.getWithInfo(REPLICA_MARKER_KEY, options);
    const bytes = await buffer(got.body);
    this.learn(markerView(bytes));
    await this.check('open');
    return { info: got.info, body: Readable.from([bytes]) };
  }

  /** The marker as it is written: an encrypting writer records the encryption in a new marker. */
  markerToWrite(body: PutBody): PutBody {
    if (this.encryptTo.length === 0 || body instanceof Readable) return body;
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    let marker: Record<string, unknown>;
    try {
      marker = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return body;
    }
    if (marker.encryption !== undefined) return body;
    const encryption: ReplicaEncryption = { scheme: 'age', recipients: this.encryptTo.map((r) => recipientFingerprint(r)) };
    this.learn({ kind: 'encrypted', encryption });
    return `${JSON.stringify({ ...marker, encryption }, null, 2)}\n`;
  }

  /** Throws unless a plaintext object dated `info.lastModified` may be read under `key`: only one older than the switch. */
  async acceptPlaintext(key: string, info: ObjectInfo, view: MarkerView): Promise<void> {
    if (view.kind === 'plain') return;
    if (view.kind === 'absent') throw plaintextRefused(key, info.lastModified, undefined);
    const before = await this.trustedPlaintextBefore(view);
    if (!predatesSwitch(info.lastModified, before)) throw plaintextRefused(key, info.lastModified, before);
  }

  /** The marker's plaintextBefore (ms) checked against its seal; undefined when the replica was encrypted from the start. */
  trustedPlaintextBefore(view: MarkerView & { kind: 'encrypted' }): Promise<number | undefined> {
    this.plainBefore ??= Promise.resolve().then(() => trustedPlaintextBefore(view.encryption, view.id, this.identities));
    return this.plainBefore;
  }

  /** Whether this process already trusts a plaintextBefore (it set it, or opened its seal). */
  get trustsPlaintextBefore(): boolean {
    return this.plainBefore !== undefined;
  }

  /** Refuses keys that do not fit the replica and returns what the marker says; reads the marker first when no command did. */
  async check(use: 'open' | 'read' | 'write'): Promise<MarkerView> {
    this.marker ??= this.inner.getWithInfo(REPLICA_MARKER_KEY).then(
      async (got) => markerView(await buffer(got.body)),
      (err: unknown) => ((err as { name?: string }).name === 'NotFoundError' ? { kind: 'absent' as const } : Promise.reject(err)),
    );
    let view: MarkerView;
    try {
      view = await this.marker;
    } catch (err) {
      this.marker = undefined;
      throw err;
    }
    const description = this.inner.description;
    const keyed = this.encryptTo.length > 0 || this.identities.length > 0;
    if (view.kind === 'encrypted' && !keyed) throw encryptedReplicaWithoutKeys(description, view.encryption.recipients);
    // With keys, a plaintext replica is read as it is; `run` and `backup` switch it on (AgeStore.switchOn()) before they write.
    if (view.kind === 'plain' && use === 'write') throw notSwitchedYet(description);
    if (view.kind === 'encrypted' && use === 'write') {
      const given = this.encryptTo.map((r) => recipientFingerprint(r));
      if (!given.some((f) => view.encryption.recipients.includes(f)))
        throw recipientsDiffer(description, view.encryption.recipients, given);
    }
    return view;
  }
}
