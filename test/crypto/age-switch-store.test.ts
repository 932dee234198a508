// Switching encryption on at the store level (AgeStore.switchOn), on file:// and the real S3 server:
// plaintext objects from before the switch read whole, by range and by HEAD; one put after it is
// refused; the switch time cannot be moved forward in the marker; and an age file in a replica whose
// marker lost its encryption field is refused.
import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, parseIdentity, type AgeIdentity } from '../../src/crypto/age-keys.js';
import { ensureReplicaMarker, type ReplicaMarker } from '../../src/format/replica-marker.js';
import { AgeStore } from '../../src/store/age-store.js';
import { cliReplicaBackends, type CliReplica } from '../support/cli-replicas.js';
import { failureOf } from '../support/persistd-failure.js';

const { backends, release } = cliReplicaBackends('age-switch-store');
afterAll(release);

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe.each(backends)('AgeStore.switchOn on %s', (_name, makeReplica) => {
  let replica: CliReplica;
  let identity: AgeIdentity;
  let store: AgeStore;
  const old = Buffer.alloc(200_000, 'p');
  let marker: ReplicaMarker;

  beforeAll(async () => {
    replica = await makeReplica();
    identity = parseIdentity(generateIdentity().secret);
    await ensureReplicaMarker(new AgeStore(replica.store, { recipients: [], identities: [] }));
    await replica.store.put('files/t/old.bin', old, { metadata: { 'persistd-sha256': sha256(old), 'persistd-mode': '644' } });
    store = new AgeStore(replica.store, { recipients: [identity.recipient], identities: [identity] });
    marker = (await store.switchOn())!;
    expect(marker.encryption?.plaintextBefore).toBeDefined();
    expect(await store.switchOn()).toBeUndefined();
  });

  it('reads a plaintext object from before the switch whole, by range and by HEAD, and writes new ones encrypted', async () => {
    const got = await store.getWithInfo('files/t/old.bin');
    expect((await buffer(got.body)).equals(old)).toBe(true);
    expect(got.info.metadata?.['persistd-sha256']).toBe(sha256(old));
    const range = await store.getWithInfo('files/t/old.bin', { range: { start: 70_000, end: 70_009 } });
    expect((await buffer(range.body)).equals(old.subarray(70_000, 70_010))).toBe(true);
    const head = await store.head('files/t/old.bin');
    expect(head?.size).toBe(old.length);
    expect(head?.metadata?.['persistd-sha256']).toBe(sha256(old));
    const listed = [];
    for await (const info of store.list('files/t/')) listed.push(info);
    expect(listed.map((i) => [i.key, i.size])).toEqual([['files/t/old.bin', old.length]]);
    await store.put('files/t/new.txt', 'new');
    expect((await buffer(await replica.store.get('files/t/new.txt'))).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect((await buffer(await store.get('files/t/new.txt'))).toString()).toBe('new');
  });

  it('refuses a plaintext object put after the switch, whole, by range, and hides its hash from HEAD', async () => {
    const forged = Buffer.from('forged');
    await replica.store.put('files/t/new.txt', forged, { metadata: { 'persistd-sha256': sha256(forged) } });
    const whole = await failureOf(store.getWithInfo('files/t/new.txt').then((got) => buffer(got.body)));
    expect(whole.kind).toBe('integrity');
    expect(whole.message).toContain('files/t/new.txt is not encrypted, stored');
    const ranged = await failureOf(store.getWithInfo('files/t/new.txt', { range: { start: 0, end: 1 } }));
    expect(ranged.kind).toBe('integrity');
    expect((await store.head('files/t/new.txt'))?.metadata?.['persistd-sha256']).toBeUndefined();
  });

  it('refuses every plaintext object when the switch time in the marker was moved forward', async () => {
    const moved = { ...marker, encryption: { ...marker.encryption!, plaintextBefore: '2099-01-01T00:00:00.000Z' } };
    await replica.store.put('persistd.json', JSON.stringify(moved));
    const reader = new AgeStore(replica.store, { recipients: [], identities: [identity] });
    const err = await failureOf(reader.getWithInfo('files/t/old.bin').then((got) => buffer(got.body)));
    expect(err.kind).toBe('integrity');
    expect(err.message).toContain('plaintextBefore cannot be trusted: its seal names another time or replica');
    await replica.store.put('persistd.json', JSON.stringify(marker));
  });

  it('refuses an age file in a replica whose marker lost its encryption field (a downgrade)', async () => {
    await store.put('files/t/new.txt', 'encrypted again');
    const { encryption: _dropped, ...stripped } = marker;
    await replica.store.put('persistd.json', JSON.stringify(stripped));
    const reader = new AgeStore(replica.store, { recipients: [], identities: [identity] });
    const err = await failureOf(reader.getWithInfo('files/t/new.txt').then((got) => buffer(got.body)));
    expect(err.kind).toBe('integrity');
    expect(err.message).toContain('is encrypted, but the replica marker says the replica is not');
    await replica.store.put('persistd.json', JSON.stringify(marker));
  });
});
