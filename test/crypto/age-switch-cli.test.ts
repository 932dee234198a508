// Issue 15, switching encryption on for an existing plaintext replica, through the built CLI (`npm run
// build` first) on file:// and the real S3 server: backup with keys switches it and says so, new
// objects are age files, the live directory and loose files are stored again encrypted, a restore
// reads both kinds exactly (also a snapshot from before the switch), a plaintext object put there after
// the switch is refused by name while the rest restores, and switching off again is refused.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/crypto/age-keys.js';
import { EXIT_CODES } from '../../src/exit-codes.js';
import { isPlaintextKey } from '../../src/format/encrypted-keys.js';
import type { ReplicaMarker } from '../../src/format/replica-marker.js';
import { cliReplicaBackends, type CliReplica } from '../support/cli-replicas.js';
import { runPersistd } from '../support/run-persistd.js';

const { backends, release } = cliReplicaBackends('age-switch');
const roots: string[] = [];
afterAll(async () => {
  await release();
  await Promise.all(roots.map((dir) => rm(dir, { recursive: true, force: true })));
});

const AGE_LINE = 'age-encryption.org/v1\n';

async function isAgeFile(store: CliReplica['store'], key: string): Promise<boolean> {
  const bytes = await buffer(await store.get(key));
  return bytes.subarray(0, AGE_LINE.length).toString('latin1') === AGE_LINE;
}

describe.each(backends)('switching encryption on for a plaintext replica (%s)', (_label, makeReplica) => {
  let root: string;
  let replica: CliReplica;
  const key = generateIdentity();
  const paths = { db: '', up: '', tokens: '' };
  let args: string[];
  let preSwitchSnapshot: string;
  const state = (name: string): string[] => ['--state-dir', join(root, name)];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'persistd-age-switch-'));
    roots.push(root);
    replica = await makeReplica();
    paths.db = join(root, 'app', 'app.db');
    paths.up = join(root, 'app', 'up');
    paths.tokens = join(root, 'app', 'tokens.json');
    await mkdir(join(paths.up, 'vault'), { recursive: true });
    const db = new Database(paths.db);
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    db.prepare('INSERT INTO notes (body) VALUES (?)').run('before the switch');
    db.close();
    await writeFile(join(paths.up, 'vault', 'cert.txt'), 'certificate, plaintext era\n');
    await writeFile(join(paths.up, 'kept.txt'), 'never changed\n');
    await writeFile(paths.tokens, '{"token":"plaintext era"}\n');
    args = ['--to', replica.url, '--db', paths.db, '--dir', paths.up, '--file', paths.tokens];
    const plain = await runPersistd(['backup', ...args, ...state('state')], { env: replica.env, timeoutMs: 120_000 });
    expect(plain.code, plain.stderr).toBe(0);
    for await (const info of replica.store.list('db/')) if (/\.db\.(gz|zst)$/.test(info.key)) preSwitchSnapshot = info.key;
    expect(await isAgeFile(replica.store, preSwitchSnapshot)).toBe(false);
  });

  it('backup with recipients switches it on, says so, and stores new and live file objects encrypted', async () => {
    const db = new Database(paths.db);
    db.prepare('INSERT INTO notes (body) VALUES (?)').run('after the switch');
    db.close();
    await writeFile(join(paths.up, 'vault', 'cert.txt'), 'certificate, encrypted era\n');
    const switched = await runPersistd(['backup', ...args, ...state('state')], {
      env: { ...replica.env, PERSISTD_AGE_RECIPIENTS: key.recipient },
      timeoutMs: 120_000,
    });
    expect(switched.code, switched.stderr).toBe(0);
    expect(switched.stderr).toContain('encryption switched on for a replica that held plaintext');
    expect(switched.stderr).toContain('stay readable by the storage provider');
    const marker = JSON.parse((await buffer(await replica.store.get('persistd.json'))).toString()) as ReplicaMarker;
    expect(marker.encryption?.plaintextBefore).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    expect(typeof marker.encryption?.plaintextBeforeSeal).toBe('string');
    // Every live file object is an age file now (the unchanged one too), the folder manifest included.
    for (const k of ['files/up/vault/cert.txt', 'files/up/kept.txt', 'files/_loose/tokens.json', 'files/up/.persistd/dirs.json'])
      expect(await isAgeFile(replica.store, k), k).toBe(true);
    // The snapshot from before the switch stays plaintext; the new one is encrypted.
    const snapshots: string[] = [];
    for await (const info of replica.store.list('db/')) if (/\.db\.(gz|zst)$/.test(info.key)) snapshots.push(info.key);
    expect(await isAgeFile(replica.store, preSwitchSnapshot)).toBe(false);
    const newer = snapshots.filter((k) => k !== preSwitchSnapshot);
    expect(newer.length).toBe(1);
    expect(await isAgeFile(replica.store, newer[0]!)).toBe(true);
    // A second backup switches nothing and says nothing of it.
    const again = await runPersistd(['backup', ...args, ...state('state')], {
      env: { ...replica.env, PERSISTD_AGE_RECIPIENTS: key.recipient },
      timeoutMs: 120_000,
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('encryption switched on');
    const doctor = await runPersistd(['doctor', '--to', replica.url, ...state('state-d')], {
      env: { ...replica.env, PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: key.secret },
      timeoutMs: 120_000,
    });
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(doctor.stdout).toContain(`encrypted since ${marker.encryption!.plaintextBefore!}`);
    expect(doctor.stdout).toMatch(
      /\[ ok \] encrypted objects +\d object\(s\) looked at: age files this identity decrypts; \d+ object\(s\) from before/,
    );
  });

  it('restore reads both kinds exactly: the latest state, and a snapshot from before the switch', async () => {
    const out = join(root, 'restored');
    const restored = await runPersistd(
      [
        'restore',
        '--to',
        replica.url,
        '--db',
        join(out, 'app.db'),
        '--dir',
        `up=${join(out, 'up')}`,
        '--file',
        `tokens.json=${join(out, 'tokens.json')}`,
        ...state('state-r'),
      ],
      { env: { ...replica.env, PERSISTD_AGE_IDENTITY: key.secret }, timeoutMs: 120_000 },
    );
    expect(restored.code, restored.stderr).toBe(0);
    expect(await readFile(join(out, 'up', 'vault', 'cert.txt'), 'utf8')).toBe('certificate, encrypted era\n');
    expect(await readFile(join(out, 'up', 'kept.txt'), 'utf8')).toBe('never changed\n');
    expect(await readFile(join(out, 'tokens.json'), 'utf8')).toBe('{"token":"plaintext era"}\n');
    const db = new Database(join(out, 'app.db'), { readonly: true });
    expect(db.prepare('SELECT body FROM notes ORDER BY id').all()).toEqual([{ body: 'before the switch' }, { body: 'after the switch' }]);
    db.close();
    const [, , , generation, , file] = preSwitchSnapshot.split('/');
    const old = join(root, 'old.db');
    const restoredOld = await runPersistd(
      [
        'restore',
        '--to',
        replica.url,
        '--db',
        paths.db,
        '-o',
        old,
        '--snapshot',
        `${generation}/${file!.replace(/\.db\.(gz|zst)$/, '')}`,
        ...state('state-o'),
      ],
      { env: { ...replica.env, PERSISTD_AGE_IDENTITY: key.secret }, timeoutMs: 120_000 },
    );
    expect(restoredOld.code, restoredOld.stderr).toBe(0);
    const oldDb = new Database(old, { readonly: true });
    expect(oldDb.prepare('SELECT body FROM notes ORDER BY id').all()).toEqual([{ body: 'before the switch' }]);
    oldDb.close();
  });

  it('a plaintext object put after the switch is refused by name, and the rest of the tree restores', async () => {
    const forged = Buffer.from('forged after the switch\n');
    await replica.store.put('files/up/kept.txt', forged, {
      metadata: { 'persistd-sha256': createHash('sha256').update(forged).digest('hex'), 'persistd-mode': '644' },
    });
    const out = join(root, 'restored-forged');
    const restored = await runPersistd(['restore', '--to', replica.url, '--dir', `up=${join(out, 'up')}`, ...state('state-f')], {
      env: { ...replica.env, PERSISTD_AGE_IDENTITY: key.secret },
      timeoutMs: 120_000,
    });
    expect(restored.code, restored.stderr).toBe(EXIT_CODES.unexpected);
    expect(`${restored.stdout}${restored.stderr}`).toContain('files/up/kept.txt is not encrypted, stored');
    expect(`${restored.stdout}${restored.stderr}`).toContain('after encryption was switched on');
    await expect(readFile(join(out, 'up', 'kept.txt'))).rejects.toThrow();
    expect(await readFile(join(out, 'up', 'vault', 'cert.txt'), 'utf8')).toBe('certificate, encrypted era\n');
  });

  it('run with keys switches a plaintext replica: it restores the plaintext, then stores a new generation encrypted', async () => {
    const other = await makeReplica();
    const dir = join(root, 'run-app');
    await mkdir(dir, { recursive: true });
    const dbPath = join(dir, 'app.db');
    const db = new Database(dbPath);
    db.pragma('journal_mode = WAL');
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('plaintext era')");
    db.close();
    await writeFile(join(dir, 'token.json'), '{"token":"plaintext era"}\n');
    const runArgs = ['--to', other.url, '--db', dbPath, '--file', join(dir, 'token.json')];
    const plain = await runPersistd(['backup', ...runArgs, ...state('state-run')], { env: other.env, timeoutMs: 120_000 });
    expect(plain.code, plain.stderr).toBe(0);
    const plainKeys = new Set<string>();
    for await (const info of other.store.list('')) plainKeys.add(info.key);
    await rm(dir, { recursive: true });
    await mkdir(dir);
    const app = `import sqlite3\nc = sqlite3.connect(${JSON.stringify(dbPath)})\nc.execute("INSERT INTO notes (body) VALUES ('encrypted era')")\nc.commit()\nc.close()\n`;
    const ran = await runPersistd(['run', ...runArgs, ...state('state-run2'), '--', 'python3', '-c', app], {
      env: { ...other.env, PERSISTD_AGE_RECIPIENTS: key.recipient, PERSISTD_AGE_IDENTITY: key.secret, PATH: process.env.PATH },
      timeoutMs: 120_000,
    });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain('encryption switched on for a replica that held plaintext');
    const marker = JSON.parse((await buffer(await other.store.get('persistd.json'))).toString()) as ReplicaMarker;
    const switchedAt = Date.parse(marker.encryption!.plaintextBefore!);
    // Everything stored after the switch that carries data is an age file: the new generation starts with a full snapshot.
    let newSnapshots = 0;
    for await (const info of other.store.list('')) {
      if ((plainKeys.has(info.key) && !info.key.startsWith('files/')) || isPlaintextKey(info.key)) continue;
      expect(info.lastModified.getTime(), info.key).toBeGreaterThanOrEqual(switchedAt);
      expect(await isAgeFile(other.store, info.key), info.key).toBe(true);
      if (/\.db\.(gz|zst)$/.test(info.key)) newSnapshots++;
    }
    expect(newSnapshots).toBeGreaterThan(0);
    const out = join(root, 'run-restored.db');
    const restored = await runPersistd(['restore', '--to', other.url, '--db', dbPath, '-o', out, ...state('state-run3')], {
      env: { ...other.env, PERSISTD_AGE_IDENTITY: key.secret },
      timeoutMs: 120_000,
    });
    expect(restored.code, restored.stderr).toBe(0);
    const check = new Database(out, { readonly: true });
    expect(check.prepare('SELECT body FROM notes ORDER BY id').all()).toEqual([{ body: 'plaintext era' }, { body: 'encrypted era' }]);
    check.close();
  });

  it('switching off again (no keys for the switched replica) is refused with exit 2', async () => {
    const keyless = await runPersistd(['backup', ...args, ...state('state')], { env: replica.env, timeoutMs: 120_000 });
    expect(keyless.code, keyless.stderr).toBe(EXIT_CODES.usage);
    expect(keyless.stderr).toContain('is encrypted with age');
  });
});
