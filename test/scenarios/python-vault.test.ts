// Scenario (issue #7, item 4a): a Python app with a SQLite user database, an uploads vault tree and a JSON
// admin token file, deployed under `persistd run`, used, stopped (or crashed), its container lost, deployed again.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Container, eventually } from './support/container.js';
import { newestBackupTime, replicaHolds, replicaHoldsTree } from './support/replica-contents.js';
import { fileReplica, s3Replica, type ScenarioReplica } from './support/replicas.js';
import { databaseRows, fileDigests, integrityCheck, sha256 } from './support/state.js';

const APP = ['python3', fileURLToPath(new URL('./fixtures/vault_app.py', import.meta.url))];
const TARGETS = ['--db', 'instance/users.db', '--dir', 'uploads', '--file', 'security/admin_tokens.json'];

function vaultContainer(replica: ScenarioReplica, flags: string[] = []): Container {
  const base = mkdtempSync(path.join(tmpdir(), 'persistd-scenario-vault-'));
  // The image ships the app's folders (an empty instance/ and security/), as a Dockerfile's COPY would.
  return new Container({ root: path.join(base, 'container'), imageDirs: ['instance', 'security'], replica, targets: TARGETS, flags });
}

/** Everything the app keeps: database rows, the vault's files, the token file. */
function appState(box: Container) {
  return {
    rows: databaseRows(box.path('instance/users.db')),
    uploads: fileDigests(box.path('uploads')),
    tokens: readFileSync(box.path('security/admin_tokens.json'), 'utf8'),
  };
}

describe('scenario: Python app with a user database, an uploads vault and a token file', () => {
  it('comes back row for row and byte for byte after a SIGTERM stop and a lost container (S3)', async () => {
    const box = vaultContainer(await s3Replica('scenario-vault'));
    const first = box.deploy(APP);
    expect((await first.ready()).rest).toBe('users=0');
    for (const user of ['alice', 'bob', 'carol']) await first.request(`signup ${user}`);
    await first.request('upload alice contract.pdf 300000');
    await first.request('upload alice März-2026.pdf 2000');
    await first.request('upload bob passport.pdf 70000');
    await first.request('upload carol empty.pdf 0');
    await first.request('grant deploy-bot');
    await first.request('grant ops');
    await first.request('revoke ops');
    await first.request('grant ci');
    const stopped = await first.stop();
    expect(stopped.code).toBe(0);
    expect(first.lines).toContain('stopped cleanly');
    expect(first.output.stderr).toContain('final backup complete');
    const before = appState(box);
    expect(before.rows.users).toHaveLength(3);
    // The write the app made in its SIGTERM handler is part of the state that must come back.
    expect((before.rows.users as Array<{ logged_out_ms: number | null }>).every((user) => user.logged_out_ms !== null)).toBe(true);
    expect(Object.keys(before.uploads)).toEqual([
      'vault/alice/contract.pdf',
      'vault/alice/März-2026.pdf',
      'vault/bob/passport.pdf',
      'vault/carol/empty.pdf',
    ]);
    expect(Object.keys(JSON.parse(before.tokens) as object)).toEqual(['ci', 'deploy-bot']);

    box.lose();
    const second = box.deploy(APP);
    // The app's first look at its database already sees the users: the restore ran before it started.
    expect((await second.ready()).rest).toBe('users=3');
    expect(appState(box)).toEqual(before);
    expect(integrityCheck(box.path('instance/users.db'))).toBe('ok');
    // On a failure, say why: what persistd and the app printed.
    const secondStop = await second.stop();
    expect(secondStop.code, `${second.output.stderr}\n${second.lines.join('\n')}`).toBe(0);
  });

  it('after a crash (SIGKILL of persistd and the app) brings back every write that was shipped before it, never a torn state (file://)', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'persistd-scenario-vault-replica-'));
    const replica = fileReplica(path.join(base, 'replica'));
    // Default --snapshot-interval (5m): after the first snapshot only continuous WAL shipping can carry new rows.
    const box = vaultContainer(replica);
    const first = box.deploy(APP);
    const { appPid } = await first.ready();
    const committedAt = async (command: string): Promise<number> => Number((await first.request(command)).split(' ')[1]);
    await committedAt('signup alice');
    await first.request('upload alice contract.pdf 120000');
    await first.request('grant deploy-bot');
    const daveAt = await committedAt('signup dave');
    const uploads = fileDigests(box.path('uploads'));
    const tokens = readFileSync(box.path('security/admin_tokens.json'));
    // What the README promises ("How databases are replicated"): a WAL database is shipped every --sync-interval
    // (1 s), so a crash loses at most the last interval; a file is uploaded a moment after it settles.
    await eventually(
      async () => ((await newestBackupTime(replica, 'users.db')) ?? 0) > daveAt || undefined,
      'a WAL segment shipped after dave signed up',
    );
    await eventually(async () => (await replicaHoldsTree(replica, 'uploads', uploads)) || undefined, 'the uploads in the replica');
    await eventually(
      async () => (await replicaHolds(replica, 'files/_loose/admin_tokens.json', sha256(tokens))) || undefined,
      'the token file in the replica',
    );
    // Committed right before the crash, after the last shipped segment: may or may not survive.
    await first.request('signup eve');
    await first.crash(appPid);

    box.lose();
    const second = box.deploy(APP);
    await second.ready();
    expect(integrityCheck(box.path('instance/users.db'))).toBe('ok');
    const names = (databaseRows(box.path('instance/users.db')).users as Array<{ name: string }>).map((user) => user.name);
    // Every row shipped before the crash, and a prefix of what was committed (never a torn transaction).
    expect([
      ['alice', 'dave'],
      ['alice', 'dave', 'eve'],
    ]).toContainEqual(names);
    expect(fileDigests(box.path('uploads'))).toEqual(uploads);
    expect(readFileSync(box.path('security/admin_tokens.json'))).toEqual(tokens);
    const stopped = await second.stop();
    expect(stopped.code, `${second.output.stderr}\n${second.output.stdout}`).toBe(0);
  });
});
