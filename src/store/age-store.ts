import { Readable, pipeline } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ageEncrypt, createAgeEncryptStream } from '../crypto/age-encrypt.js';
import type { AgeIdentity, AgeRecipient } from '../crypto/age-keys.js';
import { envelopeStanzas, plaintextSize, stampedNonce, storedSize, type OpenedEnvelope } from '../crypto/object-envelope.js';
import { acceptedBindings, isPlaintextKey } from '../format/encrypted-keys.js';
import { REPLICA_MARKER_KEY, type ReplicaMarker } from '../format/replica-marker.js';
import { IdentityRequiredError, decryptFailure, identityRequired } from './age-store-errors.js';
import { FileVersions, LOOSE_VERSIONS_KEY, isVersionsManifest, liveFileOf, rolledBack } from './age-file-versions.js';
import { encryptedInPlainReplica } from './age-plaintext.js';
import { recordSwitch } from './age-switch.js';
import { AgeMarkerGuard } from './age-marker-guard.js';
import { datedPlaintext, markerView } from './age-marker-view.js';
import { readPlainRange, readPrefix } from './age-range-read.js';
import { openWholeRead } from './age-whole-read.js';
import { NotFoundError, PreconditionFailedError } from './store-errors.js';
import type {
  CopyOptions,
  GetOptions,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  ObjectWithInfo,
  PutBody,
  PutOptions,
  RequestOptions,
  StoreCapabilities,
} from './object-store.js';

/** The age keys a replica is opened with; both empty for a plaintext replica. */
export interface AgeKeys {
  /** What new objects are encrypted to (when empty, the identities' own recipients). */
  recipients: readonly AgeRecipient[];
  /** What objects are decrypted with; restore needs one, a backup does not. */
  identities: readonly AgeIdentity[];
}

/** The loose files' stamp manifest before its `files` field is set. */
const LOOSE_VERSIONS_BASE = `${JSON.stringify({ persistd: 'files-versions', v: 1 })}\n`;

/** The metadata key whose value would show the plaintext's hash: kept inside the encrypted header instead. */
const SHA256_METADATA = 'persistd-sha256';

/**
 * Encrypts every object of a replica that carries the app's data as an age file (format 2, docs/FORMAT.md
 * "Encryption") and decrypts it on the way back, so that the layers above see plaintext: sizes in
 * listings and infos are plaintext sizes, `persistd-sha256` travels inside the encrypted header, ranges
 * map onto the 64 KiB STREAM chunks. It also keeps a replica from mixing plaintext and ciphertext: it
 * reads the encryption the replica marker records and refuses keys that do not fit it. With no keys it
 * only does the latter.
 */
export class AgeStore implements ObjectStore {
  private readonly encryptTo: readonly AgeRecipient[];
  private readonly guard: AgeMarkerGuard;
  private readonly versions = new FileVersions((key) => this.readVersionsManifest(key));

  constructor(
    private readonly inner: ObjectStore,
    private readonly keys: AgeKeys,
  ) {
    this.encryptTo = keys.recipients.length > 0 ? keys.recipients : keys.identities.map((i) => i.recipient);
    this.guard = new AgeMarkerGuard(inner, this.encryptTo, keys.identities);
  }

  get description(): string {
    return this.inner.description;
  }

  get capabilities(): StoreCapabilities {
    return this.inner.capabilities;
  }

  private get encrypting(): boolean {
    return this.encryptTo.length > 0;
  }

  /** No keys: objects pass through as they are; only the marker is looked at (every command reads it first). */
  private get plain(): boolean {
    return this.encryptTo.length === 0;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    if (key === REPLICA_MARKER_KEY) return this.inner.put(key, this.guard.markerToWrite(body), options);
    if (this.plain || isPlaintextKey(key)) return this.inner.put(key, body, options);
    await this.guard.check('write');
    const stamp = await this.versions.stampFor(key);
    let manifest: { text: string; written: () => void } | undefined;
    if (isVersionsManifest(key) && !(body instanceof Readable)) {
      manifest = await this.versions.manifestText(key, typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
      body = manifest.text;
    }
    const info = await this.putEncrypted(key, body, options, stampedNonce(stamp));
    manifest?.written();
    await this.versions.noteWritten(key, stamp);
    // A loose file has no folder manifest to carry its stamp: its own manifest follows it at once.
    if (liveFileOf(key)?.manifestKey === LOOSE_VERSIONS_KEY)
      await this.put(LOOSE_VERSIONS_KEY, LOOSE_VERSIONS_BASE, { contentType: 'application/json', signal: options.signal });
    return info;
  }

  private async putEncrypted(key: string, body: PutBody, options: PutOptions, nonce: Buffer): Promise<ObjectInfo> {
    const { [SHA256_METADATA]: sha256, ...metadata } = options.metadata ?? {};
    const encryptOptions = {
      recipients: this.encryptTo,
      extraStanzas: (fileKey: Buffer, n: number) => envelopeStanzas(fileKey, n, key, sha256),
      nonce,
    };
    const putOptions = { ...options, metadata: options.metadata === undefined ? undefined : metadata };
    if (!(body instanceof Readable)) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      const info = await this.inner.put(key, ageEncrypt(bytes, encryptOptions), putOptions);
      return { ...info, size: bytes.byteLength, metadata: options.metadata };
    }
    const sealed = createAgeEncryptStream(encryptOptions);
    pipeline(body, sealed, () => undefined);
    const contentLength = options.contentLength === undefined ? undefined : storedSize(key, options.contentLength);
    const info = await this.inner.put(key, sealed, { ...putOptions, contentLength });
    return { ...info, size: options.contentLength ?? plaintextSize(key, info.size) ?? info.size, metadata: options.metadata };
  }

  /** Whether the manifest `manifestKey` (a tree's `dirs.json`) lacks file stamps this store wrote: it is worth storing again. */
  fileVersionsPending(manifestKey: string): boolean {
    return !this.plain && this.versions.pending(manifestKey);
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    if (key !== REPLICA_MARKER_KEY && (this.plain || isPlaintextKey(key))) return this.inner.get(key, options);
    return (await this.getWithInfo(key, options)).body;
  }

  async getWithInfo(key: string, options: GetOptions = {}): Promise<ObjectWithInfo> {
    if (key === REPLICA_MARKER_KEY) return this.guard.readMarker(options);
    if (this.plain || isPlaintextKey(key)) return this.inner.getWithInfo(key, options);
    const view = await this.guard.check('read');
    // Not switched yet: objects are plaintext (an age file among them is refused below when it can be told).
    if (view.kind === 'plain' && this.keys.identities.length === 0) return this.inner.getWithInfo(key, options);
    if (this.keys.identities.length === 0) {
      // A missing object is still "not found" (a writer without the identity probes for some).
      if ((await this.inner.head(key, options)) === undefined) throw new NotFoundError(key, { op: 'get' });
      throw identityRequired(key);
    }
    const bindings = acceptedBindings(key);
    const mapError = (err: unknown): Error => decryptFailure(err, key);
    // The stamp of the newest version the replica's manifest records: an older object is a rollback.
    const expected = await this.versions.expected(key);
    const checkStamp = (stamp: number | undefined): void => {
      if (expected !== undefined && (stamp === undefined || stamp < expected)) throw rolledBack(key, stamp, expected);
    };
    if (options.range !== undefined) {
      const opened = await readPrefix(this.inner, key, bindings, this.keys.identities, options.signal).catch((err: unknown) =>
        Promise.reject(mapError(err)),
      );
      if ('plaintext' in opened) {
        await this.guard.acceptPlaintext(key, opened.plaintext, view);
        checkStamp(undefined);
        return this.inner.getWithInfo(key, options);
      }
      if (view.kind === 'plain') throw encryptedInPlainReplica(key);
      checkStamp(opened.prefix.stamp);
      const body = await readPlainRange(this.inner, key, opened, options.range, mapError, options.signal);
      return { info: this.plainInfo(opened.info, opened.plaintextSize, opened.prefix), body };
    }
    const got = await this.inner.getWithInfo(key, options);
    const opened = await openWholeRead(got, key, {
      identities: this.keys.identities,
      bindings,
      mapError,
      ageRefused: view.kind === 'plain' ? encryptedInPlainReplica(key) : undefined,
      plaintextRefused: await this.guard.acceptPlaintext(key, got.info, view).then(
        () => undefined,
        (err: unknown) => err as Error,
      ),
      checkStamp,
    });
    if (opened.kind === 'plaintext') return { info: got.info, body: opened.body };
    return { info: this.plainInfo(got.info, opened.size, opened.envelope), body: opened.body };
  }

  async head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    if (this.plain || isPlaintextKey(key)) return this.inner.head(key, options);
    const view = await this.guard.check('read');
    const bindings = acceptedBindings(key);
    if (this.keys.identities.length > 0) {
      // One ranged GET instead of a HEAD: the header holds the hash a HEAD cannot show.
      try {
        const opened = await readPrefix(this.inner, key, bindings, this.keys.identities, options?.signal);
        if (!('plaintext' in opened)) return this.plainInfo(opened.info, opened.plaintextSize, opened.prefix);
        // A plaintext object shows its own hash only when a read would accept it.
        const accepted = await this.guard.acceptPlaintext(key, opened.plaintext, view).then(
          () => true,
          () => false,
        );
        return accepted ? opened.plaintext : withoutHash(opened.plaintext);
      } catch (err) {
        if ((err as { name?: string }).name === 'NotFoundError') return undefined;
        if ((err as { name?: string }).name !== 'AgeDecryptError') throw err;
        // Not readable with this identity: the info without the hash; a read of the object says why.
      }
    }
    const info = await this.inner.head(key, options);
    if (view.kind === 'plain') return info;
    // Older than the switch: plaintext, whose hash a writer without the identity does not trust (it stores the file again).
    if (info === undefined || datedPlaintext(info.lastModified, view)) return info && withoutHash(info);
    return { ...info, size: plaintextSize(bindings[bindings.length - 1]!, info.size) ?? info.size };
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    const view = this.plain ? undefined : await this.guard.check('read');
    for await (const info of this.inner.list(prefix, options)) {
      if (view === undefined || isPlaintextKey(info.key) || datedPlaintext(info.lastModified, view)) yield info;
      else {
        const bindings = acceptedBindings(info.key);
        yield { ...info, size: plaintextSize(bindings[bindings.length - 1]!, info.size) ?? info.size };
      }
    }
  }

  /** A server-side copy keeps the ciphertext; the copy stays readable where acceptedBindings() allows its source's key. */
  async copy(sourceKey: string, destKey: string, options: CopyOptions = {}): Promise<void> {
    if (this.plain) return this.inner.copy(sourceKey, destKey, options);
    if (!isPlaintextKey(destKey)) await this.guard.check('write');
    const { [SHA256_METADATA]: _hidden, ...metadata } = options.metadata ?? {};
    return this.inner.copy(sourceKey, destKey, {
      ...options,
      metadata: options.metadata === undefined || isPlaintextKey(destKey) ? options.metadata : metadata,
    });
  }

  async delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    await this.inner.delete(keys, options);
    if (!this.plain) await this.versions.noteDeleted(keys);
  }

  /** A manifest of file stamps as stored (decrypted), or undefined when there is none or no identity to read it. */
  private async readVersionsManifest(key: string): Promise<string | undefined> {
    if (this.keys.identities.length === 0) return undefined;
    try {
      return (await buffer(await this.get(key))).toString('utf8');
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof IdentityRequiredError) return undefined;
      throw err;
    }
  }

  /**
   * Switches encryption on for a replica whose marker records none (docs/FORMAT.md "Switching encryption
   * on"): the marker gets an `encryption` field whose `plaintextBefore` is a second of the store's clock
   * after every object stored so far, sealed for the recipients. Objects written from then on are
   * encrypted; older ones stay plaintext and readable. Returns the new marker, or undefined when there is
   * nothing to switch (no keys, no marker yet, or one that records encryption already).
   */
  async switchOn(signal?: AbortSignal): Promise<ReplicaMarker | undefined> {
    if (!this.encrypting) return undefined;
    const outcome = await recordSwitch(this.inner, this.encryptTo, this.description, signal);
    if (outcome.kind === 'unchanged') {
      if (outcome.marker !== undefined) this.guard.learn(markerView(outcome.marker));
      return undefined;
    }
    this.guard.learn({ kind: 'encrypted', encryption: outcome.marker.encryption!, id: outcome.marker.id }, outcome.plaintextBefore);
    return outcome.marker;
  }

  /**
   * The time (ms) before which live file objects may still be plaintext, when this store can trust it: it
   * switched the replica itself, or holds an identity that opens the marker's seal. Undefined otherwise.
   */
  async plaintextBeforeToRewrite(): Promise<number | undefined> {
    if (!this.encrypting) return undefined;
    const view = await this.guard.check('read');
    if (view.kind !== 'encrypted' || view.encryption.plaintextBefore === undefined) return undefined;
    if (!this.guard.trustsPlaintextBefore && this.keys.identities.length === 0) return undefined;
    return this.guard.trustedPlaintextBefore(view);
  }

  /**
   * Stores the plaintext object `info` describes again, encrypted, under the same key and metadata (only
   * if it still has that ETag, where the store checks). Returns false when it changed in between.
   */
  async rewriteEncrypted(info: ObjectInfo, signal?: AbortSignal): Promise<boolean> {
    const got = await this.inner.getWithInfo(info.key, { signal });
    if (got.info.etag !== info.etag) {
      got.body.destroy();
      return false;
    }
    const ifMatch = this.inner.capabilities.conditionalWrites === true ? { ifMatch: info.etag } : {};
    try {
      await this.put(info.key, got.body, { ...ifMatch, metadata: got.info.metadata ?? {}, contentLength: got.info.size, signal });
    } catch (err) {
      if (err instanceof PreconditionFailedError) return false;
      throw err;
    }
    return true;
  }

  private plainInfo(info: ObjectInfo, size: number, envelope: OpenedEnvelope): ObjectInfo {
    const metadata = { ...info.metadata };
    delete metadata[SHA256_METADATA];
    if (envelope.sha256 !== undefined) metadata[SHA256_METADATA] = envelope.sha256;
    return { ...info, size, metadata };
  }
}

function withoutHash(info: ObjectInfo): ObjectInfo {
  if (info.metadata?.[SHA256_METADATA] === undefined) return info;
  const { [SHA256_METADATA]: _hidden, ...metadata } = info.metadata;
  return { ...info, metadata };
}
