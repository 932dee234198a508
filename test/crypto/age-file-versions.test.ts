// Write stamps and file versions at the store level (AgeStore), on file:// and the real S3 server: the
// folder manifest a tree stores gets the stamps of its files, a reader refuses a file object older than
// its recorded stamp whole and by range, and a deleted file leaves the manifest.
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, parseIdentity, type AgeIdentity } from '../../src/crypto/age-keys.js';
import { PersistdError } from '../../src/errors.js';
import { ensureReplicaMarker } from '../../src/format/replica-marker.js';
import { AgeStore } from '../../src/store/age-store.js';
import { cliReplicaBackends, type CliReplica } from '../support/cli-replicas.js';

const { backends, release } = cliReplicaBackends('age-versions');
afterAll(release);

const DIRS = 'files/t/.persistd/dirs.json';
const DIRS_TEXT = `${JSON.stringify({ persistd: 'files-dirs', v: 1, dirs: [['', '755', 1700000000000]] })}\n`;

describe.each(backends)('file versions in AgeStore on %s', (_name, makeReplica) => {
  let replica: CliReplica;
  let identity: AgeIdentity;

  beforeAll(async () => {
    replica = await makeReplica();
    identity = parseIdentity(generateIdentity().secret);
    await ensureReplicaMarker(new AgeStore(replica.store, { recipients: [identity.recipient], identities: [identity] }));
  });

  it('records stamps in the folder manifest, refuses an older version whole and by range, and forgets deleted files', async () => {
    const writer = new AgeStore(replica.store, { recipients: [identity.recipient], identities: [identity] });
    await writer.put('files/t/a.bin', Buffer.alloc(150_000, 1));
    const v1 = await buffer(await replica.store.get('files/t/a.bin'));
    await writer.put('files/t/a.bin', Buffer.alloc(150_000, 2));
    await writer.put('files/t/gone.txt', 'soon deleted');
    expect(writer.fileVersionsPending(DIRS)).toBe(true);
    await writer.put(DIRS, DIRS_TEXT);
    expect(writer.fileVersionsPending(DIRS)).toBe(false);
    const manifest = JSON.parse((await buffer(await writer.get(DIRS))).toString()) as { files: [string, number][]; dirs: unknown[] };
    expect(manifest.dirs).toEqual([['', '755', 1700000000000]]);
    expect(manifest.files.map(([rel]) => rel)).toEqual(['a.bin', 'gone.txt']);

    await replica.store.put('files/t/a.bin', v1);
    const reader = new AgeStore(replica.store, { recipients: [], identities: [identity] });
    for (const read of [
      () => reader.getWithInfo('files/t/a.bin').then((got) => buffer(got.body)),
      () => reader.getWithInfo('files/t/a.bin', { range: { start: 100_000, end: 100_009 } }).then((got) => buffer(got.body)),
    ]) {
      const err = await read().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PersistdError);
      expect((err as PersistdError).kind).toBe('integrity');
      expect((err as PersistdError).message).toContain('files/t/a.bin is an older version of itself');
    }
    expect((await buffer(await reader.get('files/t/gone.txt'))).toString()).toBe('soon deleted');

    await writer.delete(['files/t/gone.txt']);
    expect(writer.fileVersionsPending(DIRS)).toBe(true);
    await writer.put(DIRS, DIRS_TEXT);
    const after = JSON.parse((await buffer(await reader.get(DIRS))).toString()) as { files: [string, number][] };
    expect(after.files.map(([rel]) => rel)).toEqual(['a.bin']);
  });

  it('a damaged manifest stops no backup (the next one replaces it), and fails the reads that need it', async () => {
    await replica.store.put('files/u/.persistd/dirs.json', 'not an age file, written after the replica was created');
    const writer = new AgeStore(replica.store, { recipients: [identity.recipient], identities: [identity] });
    await writer.put('files/u/b.txt', 'b');
    const reader = new AgeStore(replica.store, { recipients: [], identities: [identity] });
    const err = await reader.get('files/u/b.txt').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as PersistdError).kind).toBe('integrity');
    expect((err as PersistdError).message).toContain('files/u/.persistd/dirs.json is not encrypted');
    await writer.put('files/u/.persistd/dirs.json', DIRS_TEXT);
    const fresh = new AgeStore(replica.store, { recipients: [], identities: [identity] });
    expect((await buffer(await fresh.get('files/u/b.txt'))).toString()).toBe('b');
  });
});
