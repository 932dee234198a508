import { Readable, pipeline } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AgeDecryptError, createAgeDecryptStream } from '../crypto/age-decrypt.js';
import { ageEncrypt, createAgeEncryptStream } from '../crypto/age-encrypt.js';
import { recipientFingerprint, type AgeIdentity, type AgeRecipient } from '../crypto/age-keys.js';
import { PAYLOAD_NONCE_SIZE } from '../crypto/age-stream.js';
import {
  envelopeStanzas,
  openEnvelope,
  plaintextSize,
  plaintextSizeAfter,
  storedSize,
  type OpenedEnvelope,
} from '../crypto/object-envelope.js';
import { acceptedBindings, isPlaintextKey } from '../format/encrypted-keys.js';
import { REPLICA_MARKER_KEY, type ReplicaEncryption } from '../format/replica-marker.js';
import {
  decryptFailure,
  encryptedReplicaWithoutKeys,
  identityRequired,
  plaintextReplicaWithKeys,
  recipientsDiffer,
} from './age-store-errors.js';
import { readPlainRange, readPrefix } from './age-range-read.js';
import { NotFoundError } from './store-errors.js';
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

/** The metadata key whose value would show the plaintext's hash: kept inside the encrypted header instead. */
const SHA256_METADATA = 'persistd-sha256';

/** What the replica marker said about encryption, once seen. */
type MarkerView = { kind: 'absent' } | { kind: 'plain' } | { kind: 'encrypted'; encryption: ReplicaEncryption };

/**
 * Encrypts every object of a replica that carries the app's data as an age file (format 2, docs/FORMAT.md
 * "Encryption") and decrypts it on the way back, so that the layers above see plaintext: sizes in
 * listings and infos are plaintext sizes, `persistd-sha256` travels inside the encrypted header, ranges
 * map onto the 64 KiB STREAM chunks. It also keeps a replica from mixing plaintext and ciphertext: it
 * reads the encryption the replica marker records and refuses keys that do not fit it. With no keys it
 * only does the latter.
 */
export class AgeStore implements ObjectStore {
  private marker: Promise<MarkerView> | undefined;
  private readonly encryptTo: readonly AgeRecipient[];

  constructor(
    private readonly inner: ObjectStore,
    private readonly keys: AgeKeys,
  ) {
    this.encryptTo = keys.recipients.length > 0 ? keys.recipients : keys.identities.map((i) => i.recipient);
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
    if (key === REPLICA_MARKER_KEY) return this.inner.put(key, this.markerToWrite(body), options);
    if (this.plain || isPlaintextKey(key)) return this.inner.put(key, body, options);
    await this.check('write');
    const { [SHA256_METADATA]: sha256, ...metadata } = options.metadata ?? {};
    const encryptOptions = {
      recipients: this.encryptTo,
      extraStanzas: (fileKey: Buffer, n: number) => envelopeStanzas(fileKey, n, key, sha256),
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

  async get(key: string, options?: GetOptions): Promise<Readable> {
    if (key !== REPLICA_MARKER_KEY && (this.plain || isPlaintextKey(key))) return this.inner.get(key, options);
    return (await this.getWithInfo(key, options)).body;
  }

  async getWithInfo(key: string, options: GetOptions = {}): Promise<ObjectWithInfo> {
    if (key === REPLICA_MARKER_KEY) return this.readMarker(options);
    if (this.plain || isPlaintextKey(key)) return this.inner.getWithInfo(key, options);
    await this.check('read');
    if (this.keys.identities.length === 0) {
      // A missing object is still "not found" (a writer without the identity probes for some).
      if ((await this.inner.head(key, options)) === undefined) throw new NotFoundError(key, { op: 'get' });
      throw identityRequired(key);
    }
    const bindings = acceptedBindings(key);
    const mapError = (err: unknown): Error => decryptFailure(err, key);
    if (options.range !== undefined) {
      const opened = await readPrefix(this.inner, key, bindings, this.keys.identities, options.signal).catch((err: unknown) =>
        Promise.reject(mapError(err)),
      );
      const body = await readPlainRange(this.inner, key, opened, options.range, mapError, options.signal);
      return { info: this.plainInfo(opened.info, opened.plaintextSize, opened.prefix), body };
    }
    const got = await this.inner.getWithInfo(key, options);
    let envelope: OpenedEnvelope | undefined;
    let prefixLength = 0;
    let headerRead: () => void = () => undefined;
    const decrypt = createAgeDecryptStream({
      identities: this.keys.identities,
      mapError,
      onHeader: (header, fileKey) => {
        envelope = openEnvelope(header, fileKey, bindings);
        prefixLength = header.length + PAYLOAD_NONCE_SIZE;
        headerRead();
      },
    });
    // The caller gets the info (plaintext size and hash, from the header) before the body.
    await new Promise<void>((resolve, reject) => {
      headerRead = resolve;
      pipeline(got.body, decrypt, (err) => (err ? reject(err) : resolve()));
    });
    if (envelope === undefined) throw decryptFailure(new AgeDecryptError('corrupt', 'the object ended before its age header'), key);
    const size = plaintextSizeAfter(prefixLength, got.info.size) ?? got.info.size;
    return { info: this.plainInfo(got.info, size, envelope), body: decrypt };
  }

  async head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    if (this.plain || isPlaintextKey(key)) return this.inner.head(key, options);
    await this.check('read');
    const bindings = acceptedBindings(key);
    if (this.keys.identities.length > 0) {
      // One ranged GET instead of a HEAD: the header holds the hash a HEAD cannot show.
      try {
        const opened = await readPrefix(this.inner, key, bindings, this.keys.identities, options?.signal);
        return this.plainInfo(opened.info, opened.plaintextSize, opened.prefix);
      } catch (err) {
        if ((err as { name?: string }).name === 'NotFoundError') return undefined;
        if ((err as { name?: string }).name !== 'AgeDecryptError') throw err;
        // Not readable with this identity: the info without the hash; a read of the object says why.
      }
    }
    const info = await this.inner.head(key, options);
    return info && { ...info, size: plaintextSize(bindings[bindings.length - 1]!, info.size) ?? info.size };
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    for await (const info of this.inner.list(prefix, options)) {
      if (this.plain || isPlaintextKey(info.key)) yield info;
      else {
        const bindings = acceptedBindings(info.key);
        yield { ...info, size: plaintextSize(bindings[bindings.length - 1]!, info.size) ?? info.size };
      }
    }
  }

  /** A server-side copy keeps the ciphertext; the copy stays readable where acceptedBindings() allows its source's key. */
  async copy(sourceKey: string, destKey: string, options: CopyOptions = {}): Promise<void> {
    if (this.plain) return this.inner.copy(sourceKey, destKey, options);
    if (!isPlaintextKey(destKey)) await this.check('write');
    const { [SHA256_METADATA]: _hidden, ...metadata } = options.metadata ?? {};
    return this.inner.copy(sourceKey, destKey, {
      ...options,
      metadata: options.metadata === undefined || isPlaintextKey(destKey) ? options.metadata : metadata,
    });
  }

  delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    return this.inner.delete(keys, options);
  }

  private plainInfo(info: ObjectInfo, size: number, envelope: OpenedEnvelope): ObjectInfo {
    const metadata = { ...info.metadata };
    delete metadata[SHA256_METADATA];
    if (envelope.sha256 !== undefined) metadata[SHA256_METADATA] = envelope.sha256;
    return { ...info, size, metadata };
  }

  /** Reads the marker through, learning what it says about encryption (a refusal fails the read itself). */
  private async readMarker(options: GetOptions): Promise<ObjectWithInfo> {
    const got = await this.inner.getWithInfo(REPLICA_MARKER_KEY, options);
    const bytes = await buffer(got.body);
    const view = markerView(bytes);
    this.marker = Promise.resolve(view);
    await this.check('open');
    return { info: got.info, body: Readable.from([bytes]) };
  }

  /** The marker as it is written: an encrypting writer records the encryption in a new marker. */
  private markerToWrite(body: PutBody): PutBody {
    if (!this.encrypting || body instanceof Readable) return body;
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    let marker: Record<string, unknown>;
    try {
      marker = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return body;
    }
    if (marker.encryption !== undefined) return body;
    const encryption: ReplicaEncryption = { scheme: 'age', recipients: this.encryptTo.map((r) => recipientFingerprint(r)) };
    this.marker = Promise.resolve({ kind: 'encrypted', encryption });
    return `${JSON.stringify({ ...marker, encryption }, null, 2)}\n`;
  }

  /** Refuses keys that do not fit the replica; reads the marker first when no command did. */
  private async check(use: 'open' | 'read' | 'write'): Promise<void> {
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
    const keyed = this.encrypting || this.keys.identities.length > 0;
    if (view.kind === 'encrypted' && !keyed) throw encryptedReplicaWithoutKeys(this.description, view.encryption.recipients);
    if (view.kind === 'plain' && keyed) throw plaintextReplicaWithKeys(this.description);
    if (view.kind === 'encrypted' && use === 'write') {
      const given = this.encryptTo.map((r) => recipientFingerprint(r));
      if (!given.some((f) => view.encryption.recipients.includes(f)))
        throw recipientsDiffer(this.description, view.encryption.recipients, given);
    }
  }
}

function markerView(bytes: Buffer): MarkerView {
  try {
    const marker = JSON.parse(bytes.toString('utf8')) as { encryption?: ReplicaEncryption };
    if (marker.encryption === undefined) return { kind: 'plain' };
    if (marker.encryption.scheme !== 'age' || !Array.isArray(marker.encryption.recipients))
      return { kind: 'encrypted', encryption: { scheme: 'age', recipients: [] } };
    return { kind: 'encrypted', encryption: marker.encryption };
  } catch {
    // readReplicaMarker reports a damaged marker; until then nothing is refused on its account.
    return { kind: 'absent' };
  }
}
