import { Transform, type TransformCallback } from 'node:stream';
import { AGE_VERSION_LINE, AgeFormatError, headerMacMatches, parseHeader, type AgeHeader } from './age-header.js';
import type { AgeIdentity } from './age-keys.js';
import { PAYLOAD_NONCE_SIZE, SEALED_CHUNK_SIZE, TAG_SIZE, joined, openChunk, openChunkParts, payloadKey } from './age-stream.js';
import { ByteQueue } from './byte-queue.js';
import { unwrapFileKey } from './x25519-stanza.js';

/** Why an age file could not be decrypted. */
export type AgeDecryptFailure =
  | 'not-age' // the bytes are not an age v1 file (e.g. plaintext)
  | 'no-identity' // none of the identities is a recipient of the file
  | 'corrupt'; // the header MAC or a chunk does not authenticate, or the file is truncated

/** A decryption failure; the message says what was wrong, never a key. */
export class AgeDecryptError extends Error {
  constructor(
    readonly reason: AgeDecryptFailure,
    message: string,
  ) {
    super(message);
    this.name = 'AgeDecryptError';
  }
}

/** What to decrypt with. */
export interface AgeDecryptOptions {
  identities: readonly AgeIdentity[];
  /** Called with the authenticated header and its file key before any plaintext is passed on; throwing refuses the file. */
  onHeader?: (header: AgeHeader, fileKey: Buffer) => void;
  /** The stream fails with what this returns for an AgeDecryptError (e.g. an error users understand). */
  mapError?: (err: unknown) => Error;
  /**
   * Called when the bytes are not an age file at all: returning lets them through unchanged (a plaintext
   * object a reader accepts), throwing refuses them. Without it, such bytes fail with reason `not-age`.
   */
  onNotAge?: () => void;
  /** Called with the payload nonce (authenticated by every chunk) before any plaintext is passed on; throwing refuses the file. */
  onNonce?: (nonce: Buffer) => void;
}

/** The file key of an authenticated header: the first of `identities` that one of its stanzas is for. Throws AgeDecryptError. */
export function fileKeyOf(header: AgeHeader, identities: readonly AgeIdentity[]): Buffer {
  const recipients = header.stanzas.filter((s) => s.type === 'X25519').length;
  for (const stanza of header.stanzas) {
    for (const identity of identities) {
      const fileKey = unwrapFileKey(stanza, identity);
      if (fileKey === undefined) continue;
      if (!headerMacMatches(fileKey, header)) throw new AgeDecryptError('corrupt', 'the age header does not authenticate (altered)');
      return fileKey;
    }
  }
  throw new AgeDecryptError(
    'no-identity',
    recipients === 0
      ? 'the age file has no X25519 recipient'
      : `none of the ${identities.length} identities given is one of the file's ${recipients} recipients`,
  );
}

type State =
  | { kind: 'header'; bytes: Buffer }
  | { kind: 'nonce'; fileKey: Buffer }
  | { kind: 'payload'; key: Buffer; counter: number }
  | { kind: 'plaintext' };

/** Decrypts an age v1 file fed in pieces of any size; each call returns the plaintext it could open. Throws AgeDecryptError. */
export class AgeDecoder {
  private state: State = { kind: 'header', bytes: Buffer.alloc(0) };
  private readonly pending = new ByteQueue();
  /** The authenticated header, once read. */
  header: AgeHeader | undefined;

  constructor(private readonly options: AgeDecryptOptions) {}

  /** Feeds the next bytes of the file. */
  write(bytes: Buffer): Buffer[] {
    this.pending.push(bytes);
    return this.advance(false);
  }

  /** Says the file ended; returns the last plaintext. */
  end(): Buffer[] {
    return this.advance(true);
  }

  private advance(final: boolean): Buffer[] {
    const out: Buffer[] = [];
    const pending = this.pending;
    if (this.state.kind === 'plaintext') return pending.length === 0 ? out : [pending.takeAll()];
    if (this.state.kind === 'header') {
      this.state.bytes = Buffer.concat([this.state.bytes, pending.takeAll()]);
      const header = this.parseHeader(this.state.bytes, final);
      if (header === 'plaintext') {
        const bytes = this.state.bytes;
        this.state = { kind: 'plaintext' };
        return bytes.length === 0 ? out : [bytes];
      }
      if (header === undefined) {
        if (final) throw new AgeDecryptError('corrupt', 'the age file ends inside its header');
        return out;
      }
      const fileKey = fileKeyOf(header, this.options.identities);
      this.options.onHeader?.(header, fileKey);
      this.header = header;
      pending.push(this.state.bytes.subarray(header.length));
      this.state = { kind: 'nonce', fileKey };
    }
    if (this.state.kind === 'nonce') {
      if (pending.length < PAYLOAD_NONCE_SIZE) {
        if (final) throw new AgeDecryptError('corrupt', 'the age file ends before its payload');
        return out;
      }
      const nonce = pending.take(PAYLOAD_NONCE_SIZE);
      this.options.onNonce?.(nonce);
      const key = payloadKey(this.state.fileKey, nonce);
      this.state.fileKey.fill(0);
      this.state = { kind: 'payload', key, counter: 0 };
    }
    const state = this.state;
    while (pending.length > SEALED_CHUNK_SIZE) {
      if (!openChunkParts(state.key, state.counter, pending.takeParts(SEALED_CHUNK_SIZE), false, out)) {
        throw new AgeDecryptError('corrupt', `age payload chunk ${state.counter} does not authenticate (altered or truncated)`);
      }
      state.counter++;
    }
    if (!final) return out;
    if (pending.length < TAG_SIZE) throw new AgeDecryptError('corrupt', 'the age payload is truncated');
    const last = openChunk(state.key, state.counter, pending.takeAll(), true);
    if (last === undefined)
      throw new AgeDecryptError(
        'corrupt',
        `age payload chunk ${state.counter} does not authenticate as the last one (altered or truncated)`,
      );
    if (last.length === 0 && state.counter > 0) throw new AgeDecryptError('corrupt', 'the age payload ends with an empty chunk');
    state.key.fill(0);
    out.push(last);
    return out;
  }

  /** The header once complete, undefined while it is not, or 'plaintext' when the bytes are no age file and `onNotAge` accepts them. */
  private parseHeader(bytes: Buffer, final: boolean): AgeHeader | 'plaintext' | undefined {
    try {
      const header = parseHeaderOrFail(bytes);
      // A whole object shorter than the version line is no age file (an empty one, say), whatever its bytes.
      if (header === undefined && final && this.options.onNotAge !== undefined && bytes.length <= AGE_VERSION_LINE.length) throw notAge();
      return header;
    } catch (err) {
      if (!(err instanceof AgeDecryptError) || err.reason !== 'not-age' || this.options.onNotAge === undefined) throw err;
      this.options.onNotAge();
      return 'plaintext';
    }
  }
}

function notAge(): AgeDecryptError {
  return new AgeDecryptError('not-age', 'not an age file');
}

/** A stream that turns an age v1 file into its plaintext, failing with AgeDecryptError. */
export function createAgeDecryptStream(options: AgeDecryptOptions): Transform {
  const decoder = new AgeDecoder(options);
  const run = (step: () => Buffer[], done: TransformCallback): void => {
    let out: Buffer[];
    try {
      out = step();
    } catch (err) {
      done(options.mapError ? options.mapError(err) : (err as Error));
      return;
    }
    done(null, joined(out));
  };
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      run(() => decoder.write(chunk), done);
    },
    flush(done: TransformCallback) {
      run(() => decoder.end(), done);
    },
  });
}

function parseHeaderOrFail(bytes: Buffer): AgeHeader | undefined {
  try {
    return parseHeader(bytes);
  } catch (err) {
    if (err instanceof AgeFormatError)
      throw new AgeDecryptError(err.message.startsWith('not an age file') ? 'not-age' : 'corrupt', err.message);
    throw err;
  }
}

/** The plaintext of an age v1 file in memory, and its header; throws AgeDecryptError. */
export function ageDecrypt(file: Buffer, options: AgeDecryptOptions): { plaintext: Buffer; header: AgeHeader } {
  const decoder = new AgeDecoder(options);
  const parts = [...decoder.write(file), ...decoder.end()];
  return { plaintext: Buffer.concat(parts), header: decoder.header! };
}
