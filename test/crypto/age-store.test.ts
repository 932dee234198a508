import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateIdentity, parseIdentity, parseRecipient, recipientFingerprint, type AgeIdentity } from '../../src/crypto/age-keys.js';
import { ensureReplicaMarker, readReplicaMarker } from '../../src/format/replica-marker.js';
import { AgeStore } from '../../src/store/age-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { cliReplicaBackends, type CliReplica } from '../support/cli-replicas.js';
import { failureOf } from '../support/persistd-failure.js';

const run = promisify(execFile);
const ageCli = inject('ageCli');
const { backends, release } = cliReplicaBackends('age-store');
afterAll(release);

const MARKER = 'PERSISTD-AGE-TEST-MARKER-7f3a';
/** Plaintext with the marker string in it, of `size` bytes, compressible and not. */
function plaintext(size: number): Buffer {
  const bytes = randomBytes(size);
  for (let at = 0; at + MARKER.length <= size; at += 50_000) bytes.write(MARKER, at);
  return bytes;
}
function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
async function rawBytes(store: ObjectStore, key: string): Promise<Buffer> {
  return buffer(await store.get(key));
}

describe.each(backends)('AgeStore on %s', (_name, makeReplica) => {
  let replica: CliReplica;
  let identity: AgeIdentity;
  let secret: string;
  let store: AgeStore;
  let dir: string;

  beforeAll(async () => {
    replica = await makeReplica();
    const made = generateIdentity();
    secret = made.secret;
    identity = parseIdentity(made.secret);
    store = new AgeStore(replica.store, { recipients: [identity.recipient], identities: [identity] });
    await ensureReplicaMarker(store);
    dir = await mkdtemp(join(tmpdir(), 'persistd-age-store-'));
    await writeFile(join(dir, 'key.txt'), `${secret}\n`);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records the encryption in the marker with fingerprints only, and keeps the marker plaintext', async () => {
    const marker = await readReplicaMarker(replica.store);
    expect(marker?.encryption).toEqual({ scheme: 'age', recipients: [recipientFingerprint(identity.recipient)] });
    expect((await rawBytes(replica.store, 'persistd.json')).toString()).not.toContain(identity.recipient.text);
  });

  it.each([
    ['a buffer', 0],
    ['a buffer', 70_000],
    ['a stream of known length', 200_000],
    ['a stream of unknown length', 300_000],
  ] as const)('stores %s (%i bytes) as an age file only, and gives back the plaintext, its size and hash', async (how, size) => {
    const plain = plaintext(size);
    const key = `files/t/${how.replaceAll(' ', '-')}-${size}.bin`;
    const metadata = { 'persistd-sha256': sha256(plain), 'persistd-mode': '644' };
    const body = how === 'a buffer' ? plain : Readable.from([plain.subarray(0, size >> 1), plain.subarray(size >> 1)]);
    const put = await store.put(key, body, { metadata, ...(how === 'a stream of known length' ? { contentLength: size } : {}) });
    expect(put.size).toBe(size);
    const raw = await rawBytes(replica.store, key);
    expect(raw.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    if (size > 0) expect(raw.includes(MARKER)).toBe(false);
    const rawInfo = await replica.store.head(key);
    expect(rawInfo?.metadata?.['persistd-sha256']).toBeUndefined();
    expect(JSON.stringify(rawInfo?.metadata)).not.toContain(sha256(plain));
    expect(rawInfo?.metadata?.['persistd-mode']).toBe('644');
    const got = await store.getWithInfo(key);
    expect((await buffer(got.body)).equals(plain)).toBe(true);
    expect(got.info.size).toBe(size);
    expect(got.info.metadata?.['persistd-sha256']).toBe(sha256(plain));
    expect((await store.head(key))?.size).toBe(size);
    expect((await store.head(key))?.metadata?.['persistd-sha256']).toBe(sha256(plain));
    const listed = [];
    for await (const info of store.list(key)) listed.push(info);
    expect(listed.map((i) => [i.key, i.size])).toEqual([[key, size]]);
    if (ageCli.available) {
      const file = join(dir, 'object.age');
      await writeFile(file, raw);
      const { stdout } = await run('age', ['-d', '-i', join(dir, 'key.txt'), file], {
        encoding: 'buffer',
        maxBuffer: 1 << 24,
        timeout: 60_000,
      });
      expect(stdout.equals(plain)).toBe(true);
    }
  });

  it('reads ranges across STREAM chunk boundaries exactly', async () => {
    const plain = plaintext(3 * 65_536 + 1234);
    const key = 'files/t/ranges.bin';
    await store.put(key, plain);
    for (const [start, end] of [
      [0, 0],
      [65_535, 65_536],
      [1, 3 * 65_536 + 1233],
      [131_072, 196_607],
      [196_608, 999_999],
      [100, undefined],
    ] as const) {
      const got = await store.getWithInfo(key, { range: { start, end } });
      expect(got.info.size).toBe(plain.length);
      expect((await buffer(got.body)).equals(plain.subarray(start, end === undefined ? undefined : end + 1))).toBe(true);
    }
  });

  it('refuses an object moved or copied by hand to another key, and accepts a trash copy of a live file', async () => {
    const plain = plaintext(10_000);
    await store.put('files/t/a.txt', plain);
    await replica.store.put('files/t/b.txt', await rawBytes(replica.store, 'files/t/a.txt'));
    const err = await failureOf(store.getWithInfo('files/t/b.txt'));
    expect(err.kind).toBe('integrity');
    expect(err.message).toContain('moved or swapped');
    await store.copy('files/t/a.txt', 'files/t/.persistd/trash/20261205T120000000Z/a.txt');
    expect((await buffer(await store.get('files/t/.persistd/trash/20261205T120000000Z/a.txt'))).equals(plain)).toBe(true);
  });

  it('refuses an altered object and a plaintext one, as integrity errors', async () => {
    await store.put('files/t/altered.txt', plaintext(100_000));
    const raw = await rawBytes(replica.store, 'files/t/altered.txt');
    raw[raw.length - 20]! ^= 1;
    await replica.store.put('files/t/altered.txt', raw);
    expect((await failureOf(buffer(await store.get('files/t/altered.txt')))).kind).toBe('integrity');
    await replica.store.put('files/t/plain.txt', 'hello, plaintext');
    const err = await failureOf(store.get('files/t/plain.txt'));
    expect(err.kind).toBe('integrity');
    expect(err.message).toContain('not encrypted');
  });

  it('without an identity, or with a wrong one, fails as a usage error that names the fix and no secret', async () => {
    const writerOnly = new AgeStore(replica.store, { recipients: [identity.recipient], identities: [] });
    const noIdentity = await failureOf(writerOnly.get('files/t/a.txt'));
    expect(noIdentity.kind).toBe('usage');
    expect(noIdentity.hint).toContain('PERSISTD_AGE_IDENTITY');
    // A writer without the identity still writes.
    await writerOnly.put('files/t/by-writer.txt', 'written by a writer without the identity');
    expect((await buffer(await store.get('files/t/by-writer.txt'))).toString()).toBe('written by a writer without the identity');
    const other = generateIdentity();
    const wrong = new AgeStore(replica.store, { recipients: [], identities: [parseIdentity(other.secret)] });
    const wrongErr = await failureOf(wrong.get('files/t/a.txt'));
    expect(wrongErr.kind).toBe('usage');
    expect(wrongErr.message).toContain('cannot be decrypted with the age identity given');
    for (const e of [noIdentity, wrongErr]) {
      const text = `${e.message} ${e.hint ?? ''}`;
      expect(text).not.toContain(secret.slice(16));
      expect(text).not.toContain(other.secret.slice(16));
    }
  });

  it('refuses writers with other recipients, a keyless persistd, and encrypted writes into a plaintext replica not switched yet', async () => {
    const other = generateIdentity();
    const otherWriter = new AgeStore(replica.store, { recipients: [parseRecipient(other.recipient)], identities: [] });
    await readReplicaMarker(otherWriter);
    const differ = await failureOf(otherWriter.put('files/t/x.txt', 'x'));
    expect(differ.kind).toBe('usage');
    expect(differ.message).toContain(recipientFingerprint(identity.recipient));
    const keyless = new AgeStore(replica.store, { recipients: [], identities: [] });
    const refused = await failureOf(readReplicaMarker(keyless));
    expect(refused.kind).toBe('usage');
    expect(refused.message).toContain('is encrypted with age');

    const plainReplica = await makeReplica();
    await ensureReplicaMarker(new AgeStore(plainReplica.store, { recipients: [], identities: [] }));
    const keyed = new AgeStore(plainReplica.store, { recipients: [identity.recipient], identities: [identity] });
    await readReplicaMarker(keyed);
    const plainErr = await failureOf(keyed.put('files/t/x.txt', 'x'));
    expect(plainErr.kind).toBe('usage');
    expect(plainErr.message).toContain('is not encrypted yet');
  });
});
