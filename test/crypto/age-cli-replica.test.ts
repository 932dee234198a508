// Issue 15 end to end through the built CLI (`npm run build` first), on file:// and the real S3 server:
// no byte of the app's data readable in the bucket, `age -d` decrypts each kind of object, restore
// with the identity is exact, without it or with a wrong one it fails as a usage error (exit 2) and
// changes nothing, a replica never mixes plaintext and ciphertext, and no secret reaches the output.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'zstd-napi';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateIdentity } from '../../src/crypto/age-keys.js';
import { EXIT_CODES } from '../../src/exit-codes.js';
import { snapshotDecompressor } from '../../src/sqlite/snapshot-codec.js';
import { cliReplicaBackends, type CliReplica } from '../support/cli-replicas.js';
import { runPersistd } from '../support/run-persistd.js';

const run = promisify(execFile);
const ageCli = inject('ageCli');
const { backends, release } = cliReplicaBackends('age-cli');
const MARKER = 'ZEBRA-NOTARY-4471-evidence';
const roots: string[] = [];
afterAll(async () => {
  await release();
  await Promise.all(roots.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The bytes decompressed as gzip or as zstd (snapshot data), when they are either. */
/** The plaintext of a snapshot data object (gzip `.db.gz` or zstd `.db.zst`). */
async function decompressed(key: string, bytes: Buffer): Promise<Buffer> {
  if (key.endsWith('.gz')) return gunzipSync(bytes);
  return buffer(Readable.from([bytes]).pipe(snapshotDecompressor('zstd')));
}

function gunzipped(bytes: Buffer): Buffer | undefined {
  for (const decompress of [gunzipSync, zstdDecompress]) {
    try {
      return decompress(bytes);
    } catch {
      // not this format
    }
  }
  return undefined;
}

describe.each(backends)('age encryption through the CLI (%s)', (_label, makeReplica) => {
  let root: string;
  let replica: CliReplica;
  const key = generateIdentity();
  const wrong = generateIdentity();
  let keyFile: string;
  let args: string[];
  const paths = { db: '', up: '', tokens: '' };

  const withKeys = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ ...replica.env, ...extra });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'persistd-age-cli-'));
    roots.push(root);
    replica = await makeReplica();
    keyFile = join(root, 'key.txt');
    await writeFile(keyFile, `# created: by the test\n# public key: ${key.recipient}\n${key.secret}\n`, { mode: 0o600 });
    paths.db = join(root, 'app', 'app.db');
    paths.up = join(root, 'app', 'up');
    paths.tokens = join(root, 'app', 'tokens.json');
    await mkdir(join(paths.up, 'vault'), { recursive: true });
    const db = new Database(paths.db);
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    const insert = db.prepare('INSERT INTO notes (body) VALUES (?)');
    for (let i = 0; i < 200; i++) insert.run(`${MARKER} row ${i}`);
    db.close();
    await writeFile(join(paths.up, 'vault', 'cert.txt'), `${MARKER}\n`.repeat(1000));
    await writeFile(join(paths.up, 'big.bin'), Buffer.concat([Buffer.from(MARKER), Buffer.alloc(300_000, 7), Buffer.from(MARKER)]));
    await writeFile(paths.tokens, `{"token":"${MARKER}"}\n`);
    args = ['--to', replica.url, '--db', paths.db, '--dir', paths.up, '--file', paths.tokens, '--state-dir', join(root, 'state')];
    const backup = await runPersistd(['backup', ...args], {
      env: withKeys({ PERSISTD_AGE_RECIPIENTS: key.recipient }),
      timeoutMs: 120_000,
    });
    expect(backup.code, backup.stderr).toBe(0);
  });

  it('leaves no byte of the app data readable in any object, raw or gunzipped', async () => {
    const keys: string[] = [];
    for await (const info of replica.store.list('')) {
      keys.push(info.key);
      const bytes = await buffer(await replica.store.get(info.key));
      expect(bytes.includes(MARKER), info.key).toBe(false);
      expect(gunzipped(bytes)?.includes(MARKER) ?? false, info.key).toBe(false);
    }
    expect(keys.some((k) => /\.db\.(gz|zst)$/.test(k))).toBe(true);
    expect(keys).toContain('files/up/vault/cert.txt');
    expect(keys).toContain('files/_loose/tokens.json');
    expect(keys).toContain('files/up/.persistd/dirs.json');
  });

  it.skipIf(!ageCli.available)('age -d decrypts each kind of object (snapshot, directory file, loose file, folder manifest)', async () => {
    const decrypt = async (objectKey: string): Promise<Buffer> => {
      const file = join(root, 'object.age');
      await writeFile(file, await buffer(await replica.store.get(objectKey)));
      return (await run('age', ['-d', '-i', keyFile, file], { encoding: 'buffer', maxBuffer: 1 << 26, timeout: 60_000 })).stdout;
    };
    let snapshot: string | undefined;
    for await (const info of replica.store.list('db/')) if (/\.db\.(gz|zst)$/.test(info.key)) snapshot = info.key;
    expect((await decompressed(snapshot!, await decrypt(snapshot!))).includes(MARKER)).toBe(true);
    expect((await decrypt('files/up/vault/cert.txt')).equals(await readFile(join(paths.up, 'vault', 'cert.txt')))).toBe(true);
    expect((await decrypt('files/up/big.bin')).equals(await readFile(join(paths.up, 'big.bin')))).toBe(true);
    expect((await decrypt('files/_loose/tokens.json')).equals(await readFile(paths.tokens))).toBe(true);
    expect(JSON.parse((await decrypt('files/up/.persistd/dirs.json')).toString()).persistd).toBe('files-dirs');
  });

  it('restore without the identity, or with a wrong one, fails as a usage error and writes nothing; no secret is printed', async () => {
    const originals = { db: await readFile(paths.db), tokens: await readFile(paths.tokens) };
    await rm(join(root, 'app'), { recursive: true });
    const restoreArgs = ['restore', ...args.map((a) => a.replace(join(root, 'state'), join(root, 'state-restore')))];
    const none = await runPersistd(restoreArgs, { env: withKeys({ PERSISTD_AGE_RECIPIENTS: key.recipient }), timeoutMs: 120_000 });
    expect(none.code, none.stderr).toBe(EXIT_CODES.usage);
    expect(none.stderr).toContain('PERSISTD_AGE_IDENTITY');
    const bad = await runPersistd([...restoreArgs, '--log-level', 'debug'], {
      env: withKeys({ PERSISTD_AGE_IDENTITY: wrong.secret }),
      timeoutMs: 120_000,
    });
    expect(bad.code, bad.stderr).toBe(EXIT_CODES.usage);
    expect(bad.stderr).toContain('is not one the replica');
    for (const out of [none.stdout, none.stderr, bad.stdout, bad.stderr]) {
      expect(out).not.toContain(wrong.secret.slice(16));
      expect(out).not.toContain(key.secret.slice(16));
    }
    // Nothing local was written: no database, no restored file, no temp file left behind.
    expect(existsSync(paths.db)).toBe(false);
    expect(existsSync(paths.tokens)).toBe(false);
    const left = existsSync(paths.up) ? await readdir(paths.up, { recursive: true }) : [];
    expect(left.filter((name) => !String(name).startsWith('.persistd') && !String(name).endsWith('vault'))).toEqual([]);

    // run restores before it starts the app: without the identity it stops there (the app would print "started").
    const runArgs = ['run', ...restoreArgs.slice(1), '--', process.execPath, '-e', 'console.log("started")'];
    const runNone = await runPersistd(runArgs, { env: withKeys({ PERSISTD_AGE_RECIPIENTS: key.recipient }), timeoutMs: 120_000 });
    expect(runNone.code, runNone.stderr).toBe(EXIT_CODES.usage);
    expect(runNone.stdout).not.toContain('started');
    expect(runNone.stderr).toContain('no identity was given to restore it');
    expect(existsSync(paths.db)).toBe(false);

    const good = await runPersistd([...restoreArgs, '--log-level', 'debug'], {
      env: withKeys({ PERSISTD_AGE_IDENTITY: keyFile }),
      timeoutMs: 120_000,
    });
    expect(good.code, good.stderr).toBe(0);
    expect(`${good.stdout}${good.stderr}`).not.toContain(key.secret.slice(16));
    expect(await readFile(paths.tokens)).toEqual(originals.tokens);
    expect((await readFile(join(paths.up, 'vault', 'cert.txt'))).toString()).toBe(`${MARKER}\n`.repeat(1000));
    const db = new Database(paths.db, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM notes WHERE body LIKE ?').get(`${MARKER}%`)).toEqual({ n: 200 });
    db.close();
    expect(originals.db.length).toBeGreaterThan(0);
  });

  it('run: WAL segments and the final backup are encrypted too, and no secret reaches the output or the state dir', async () => {
    const MARKER2 = 'OKAPI-TOKEN-9320-memory';
    const db = new Database(paths.db);
    db.pragma('journal_mode = WAL');
    db.close();
    const runState = join(root, 'state-run');
    // Two commits 2 s apart: at least two WAL segments (sync interval 1 s).
    const app = `import sqlite3, time\nc = sqlite3.connect(${JSON.stringify(paths.db)})\nc.execute("INSERT INTO notes (body) VALUES (?)", (${JSON.stringify(MARKER2)},))\nc.commit()\ntime.sleep(2)\nc.execute("INSERT INTO notes (body) VALUES ('second')")\nc.commit()\ntime.sleep(2)\nc.close()\n`;
    const runArgs = [
      'run',
      '--to',
      replica.url,
      '--db',
      paths.db,
      '--dir',
      paths.up,
      '--file',
      paths.tokens,
      '--state-dir',
      runState,
      '--log-level',
      'debug',
      '--',
      'python3',
      '-c',
      app,
    ];
    const ran = await runPersistd(runArgs, {
      env: withKeys({ PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: key.secret, PATH: process.env.PATH }),
      timeoutMs: 120_000,
    });
    expect(ran.code, ran.stderr).toBe(0);
    expect(`${ran.stdout}${ran.stderr}`).not.toContain(key.secret.slice(16));
    for (const name of await readdir(runState, { recursive: true })) {
      const file = join(runState, String(name));
      const bytes = await readFile(file).catch(() => undefined); // folders
      if (bytes !== undefined) expect(bytes.includes(key.secret.slice(16)), String(name)).toBe(false);
    }
    let segments = 0;
    for await (const info of replica.store.list('db/')) {
      if (info.key.includes('/wal/')) segments++;
      const bytes = await buffer(await replica.store.get(info.key));
      expect(bytes.includes(MARKER2), info.key).toBe(false);
      expect(gunzipped(bytes)?.includes(MARKER2) ?? false, info.key).toBe(false);
    }
    expect(segments).toBeGreaterThan(0);
    const out = join(root, 'restored-run.db');
    const restored = await runPersistd(
      ['restore', '--to', replica.url, '--db', paths.db, '--state-dir', join(root, 'state-run-r'), '-o', out],
      { env: withKeys({ PERSISTD_AGE_IDENTITY: keyFile }), timeoutMs: 120_000 },
    );
    expect(restored.code, restored.stderr).toBe(0);
    const check = new Database(out, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM notes WHERE body = ?').get(MARKER2)).toEqual({ n: 1 });
    check.close();
  });

  it('doctor checks that the identity is a recipient of the replica and decrypts its objects', async () => {
    const doctorArgs = ['doctor', '--to', replica.url, '--state-dir', join(root, 'state-doctor')];
    const good = await runPersistd(doctorArgs, {
      env: withKeys({ PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: keyFile }),
      timeoutMs: 120_000,
    });
    expect(good.code, good.stdout).toBe(0);
    expect(good.stdout).toMatch(/\[ ok \] encrypted objects +\d object\(s\) looked at: age files this identity decrypts/);
    const mismatched = await runPersistd(doctorArgs, {
      env: withKeys({ PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: wrong.secret }),
      timeoutMs: 120_000,
    });
    expect(mismatched.code, mismatched.stdout).toBe(EXIT_CODES.storage);
    expect(mismatched.stdout).toMatch(/\[FAIL\] encryption keys .*the identity is none of the recipients/);
    expect(`${mismatched.stdout}${mismatched.stderr}`).not.toContain(wrong.secret.slice(16));
    const wrongReplica = await runPersistd(doctorArgs, { env: withKeys({ PERSISTD_AGE_IDENTITY: wrong.secret }), timeoutMs: 120_000 });
    expect(wrongReplica.code).toBe(EXIT_CODES.storage);
    expect(wrongReplica.stdout).toContain('the identity is not one the replica is encrypted to');
  });

  it('a persistd without keys refuses the encrypted replica (switching encryption off is refused)', async () => {
    const keyless = await runPersistd(['backup', ...args], { env: replica.env, timeoutMs: 120_000 });
    expect(keyless.code, keyless.stderr).toBe(EXIT_CODES.usage);
    expect(keyless.stderr).toContain('is encrypted with age');
  });

  it('a WAL segment rolled back to an older one (its bytes copied over a newer key) is refused: the restore stops before it, as for a damaged one', async () => {
    const segments: string[] = [];
    for await (const info of replica.store.list('db/')) if (info.key.includes('/wal/')) segments.push(info.key);
    expect(segments.length).toBeGreaterThan(1);
    const [older, newer] = [segments[0]!, segments[segments.length - 1]!];
    await replica.store.put(newer, await buffer(await replica.store.get(older)));
    const out = join(root, 'rolled-back.db');
    const restored = await runPersistd(
      ['restore', '--to', replica.url, '--db', paths.db, '--state-dir', join(root, 'state-rb'), '-o', out],
      { env: withKeys({ PERSISTD_AGE_IDENTITY: keyFile }), timeoutMs: 120_000 },
    );
    expect(restored.code, restored.stderr).toBe(0);
    // The replaced segment is named, refused and not applied: the restore stops at the last transaction before it.
    expect(restored.stderr).toContain(`${newer} failed authentication`);
    expect(restored.stderr).toContain('moved or swapped');
    expect(restored.stderr).toContain('restoring the last whole transaction before it');
    const check = new Database(out, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM notes WHERE body = ?').get('OKAPI-TOKEN-9320-memory')).toEqual({ n: 1 });
    check.close();
  });
});

describe.each(backends)('a format-1 replica next to encryption (%s)', (_label, makeReplica) => {
  it('restores as before without keys, and with keys as it is (a restore does not switch encryption on)', async () => {
    const replica = await makeReplica();
    const root = await mkdtemp(join(tmpdir(), 'persistd-age-f1-'));
    roots.push(root);
    const content = Buffer.from('{"written":"by persistd 0.1"}\n');
    const marker = `${JSON.stringify({ format: 1, createdBy: 'persistd 0.1.3', createdAt: '2026-11-01T00:00:00.000Z' })}\n`;
    await replica.store.put('persistd.json', marker);
    await replica.store.put('files/_loose/tokens.json', content, {
      metadata: {
        'persistd-sha256': createHash('sha256').update(content).digest('hex'),
        'persistd-mode': '600',
        'persistd-mtime': '1700000000000',
      },
    });
    const target = join(root, 'tokens.json');
    const args = ['restore', '--to', replica.url, '--file', target, '--state-dir', join(root, 'state')];
    const keyed = await runPersistd(args, {
      env: { ...replica.env, PERSISTD_AGE_RECIPIENTS: generateIdentity().recipient },
      timeoutMs: 120_000,
    });
    expect(keyed.code, keyed.stderr).toBe(0);
    expect(await readFile(target)).toEqual(content);
    expect((await buffer(await replica.store.get('persistd.json'))).toString()).toBe(marker);
    await rm(target);
    const plain = await runPersistd(args, { env: replica.env, timeoutMs: 120_000 });
    expect(plain.code, plain.stderr).toBe(0);
    expect(await readFile(target)).toEqual(content);
  });
});
