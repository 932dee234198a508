// Issue 15, a file object rolled back to an older version of itself at the same key (a versioned
// bucket, a replay), through the built CLI (`npm run build` first) on file:// and the real S3 server:
// the folder manifest (loose files: their own manifest) records the write stamp of each file's newest
// version, and a restore refuses an older one by name while the rest of the tree restores. A plaintext
// replica's folder manifest stays as it was.
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, parseIdentity } from '../../src/crypto/age-keys.js';
import { EXIT_CODES } from '../../src/exit-codes.js';
import { AgeStore } from '../../src/store/age-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { cliReplicaBackends, type CliReplica } from '../support/cli-replicas.js';
import { runPersistd } from '../support/run-persistd.js';

const { backends, release } = cliReplicaBackends('age-rollback');
const roots: string[] = [];
afterAll(async () => {
  await release();
  await Promise.all(roots.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** An object's bytes and metadata as the store holds them (ciphertext), to put back later. */
async function saved(store: ObjectStore, key: string): Promise<{ bytes: Buffer; metadata: Record<string, string> }> {
  const got = await store.getWithInfo(key);
  return { bytes: await buffer(got.body), metadata: (await store.head(key))?.metadata ?? {} };
}

describe.each(backends)('a file object rolled back in an encrypted replica (%s)', (_label, makeReplica) => {
  let root: string;
  let replica: CliReplica;
  const key = generateIdentity();
  let args: string[];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'persistd-age-rollback-'));
    roots.push(root);
    replica = await makeReplica();
    env = { ...replica.env, PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: key.secret };
    const up = join(root, 'app', 'up');
    await mkdir(join(up, 'vault'), { recursive: true });
    await writeFile(join(up, 'vault', 'grant.txt'), 'access granted until 2026-12-31\n');
    await writeFile(join(up, 'other.txt'), 'unchanged\n');
    await writeFile(join(root, 'app', 'tokens.json'), '{"token":"old, revoked"}\n');
    args = ['--to', replica.url, '--dir', up, '--file', join(root, 'app', 'tokens.json'), '--state-dir', join(root, 'state')];
    const first = await runPersistd(['backup', ...args], { env, timeoutMs: 120_000 });
    expect(first.code, first.stderr).toBe(0);
  });

  it('refuses a directory file and a loose file put back to an older version, and restores the rest', async () => {
    const oldGrant = await saved(replica.store, 'files/up/vault/grant.txt');
    const oldTokens = await saved(replica.store, 'files/_loose/tokens.json');
    const up = join(root, 'app', 'up');
    await writeFile(join(up, 'vault', 'grant.txt'), 'access REVOKED\n');
    await writeFile(join(root, 'app', 'tokens.json'), '{"token":"new"}\n');
    const later = new Date(Date.now() + 5_000);
    await utimes(join(up, 'vault', 'grant.txt'), later, later);
    await utimes(join(root, 'app', 'tokens.json'), later, later);
    const second = await runPersistd(['backup', ...args], { env, timeoutMs: 120_000 });
    expect(second.code, second.stderr).toBe(0);
    // Rolled back: the older ciphertext (authentic, bound to the same key) put back where the newer one was.
    await replica.store.put('files/up/vault/grant.txt', oldGrant.bytes, { metadata: oldGrant.metadata });
    await replica.store.put('files/_loose/tokens.json', oldTokens.bytes, { metadata: oldTokens.metadata });

    const out = join(root, 'restored');
    const restored = await runPersistd(
      [
        'restore',
        '--to',
        replica.url,
        '--dir',
        `up=${join(out, 'up')}`,
        '--file',
        `tokens.json=${join(out, 'tokens.json')}`,
        '--state-dir',
        join(root, 'state-r'),
      ],
      { env: { ...replica.env, PERSISTD_AGE_IDENTITY: key.secret }, timeoutMs: 120_000 },
    );
    const output = `${restored.stdout}${restored.stderr}`;
    expect(restored.code, output).toBe(EXIT_CODES.unexpected);
    expect(output).toContain('files/up/vault/grant.txt is an older version of itself');
    expect(output).toContain('files/_loose/tokens.json is an older version of itself');
    await expect(readFile(join(out, 'up', 'vault', 'grant.txt'))).rejects.toThrow();
    await expect(readFile(join(out, 'tokens.json'))).rejects.toThrow();
    expect(await readFile(join(out, 'up', 'other.txt'), 'utf8')).toBe('unchanged\n');
  });

  it('run: files the app rewrites in place, twice over two runs, restore exactly (no false rollback), and the manifest records them', async () => {
    const other = await makeReplica();
    const dir = join(root, 'run-app');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'note.txt'), 'v0\n');
    const runArgs = ['--to', other.url, '--dir', dir, '--file', join(root, 'run-token.json')];
    await writeFile(join(root, 'run-token.json'), '{"t":0}\n');
    const keyed = { ...other.env, PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: key.secret, PATH: process.env.PATH };
    for (const round of [1, 2]) {
      const app = `import time\nfor i in range(3):\n  open(${JSON.stringify(join(dir, 'note.txt'))}, 'w').write('v${round}.%d\\n' % i)\n  open(${JSON.stringify(join(root, 'run-token.json'))}, 'w').write('{"t":${round}%d}\\n' % i)\n  time.sleep(0.7)\n`;
      const ran = await runPersistd(['run', ...runArgs, '--state-dir', join(root, `state-run-${round}`), '--', 'python3', '-c', app], {
        env: keyed,
        timeoutMs: 120_000,
      });
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stderr).not.toContain('older version of itself');
    }
    const manifest = JSON.parse(
      (
        await buffer(
          await new AgeStore(other.store, { recipients: [], identities: [parseIdentity(key.secret)] }).get(
            'files/run-app/.persistd/dirs.json',
          ),
        )
      ).toString(),
    ) as {
      files: [string, number][];
    };
    expect(manifest.files.map(([rel]) => rel)).toEqual(['note.txt']);
    const out = join(root, 'run-restored');
    const restored = await runPersistd(
      [
        'restore',
        '--to',
        other.url,
        '--dir',
        `run-app=${join(out, 'run-app')}`,
        '--file',
        `run-token.json=${join(out, 'token.json')}`,
        '--state-dir',
        join(root, 'state-run-r'),
      ],
      { env: { ...other.env, PERSISTD_AGE_IDENTITY: key.secret }, timeoutMs: 120_000 },
    );
    expect(restored.code, `${restored.stdout}${restored.stderr}`).toBe(0);
    expect(await readFile(join(out, 'run-app', 'note.txt'), 'utf8')).toBe('v2.2\n');
    expect(await readFile(join(out, 'token.json'), 'utf8')).toBe('{"t":22}\n');
  });

  it('keeps a plaintext replica as it was: its folder manifest records no stamps and restores', async () => {
    const plain = await makeReplica();
    const dir = join(root, 'plain');
    await mkdir(dir);
    await writeFile(join(dir, 'a.txt'), 'a\n');
    const plainArgs = ['--to', plain.url, '--dir', dir, '--state-dir', join(root, 'state-p')];
    expect((await runPersistd(['backup', ...plainArgs], { env: plain.env, timeoutMs: 120_000 })).code).toBe(0);
    const manifest = JSON.parse((await buffer(await plain.store.get('files/plain/.persistd/dirs.json'))).toString()) as object;
    expect(Object.keys(manifest).sort()).toEqual(['dirs', 'persistd', 'v']);
    await rm(dir, { recursive: true });
    const restored = await runPersistd(['restore', ...plainArgs], { env: plain.env, timeoutMs: 120_000 });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('a\n');
  });
});
