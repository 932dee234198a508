// Issue 12, item 1: the local index is a cache bound to one replica, and the replica is the truth. A backup
// to a second replica uploads everything; objects removed from the replica behind persistd's back are
// uploaded again by `backup`, by `run` at start and by `run` on its schedule; summaries count the listing.
// Through the real CLI, on file:// and on the real S3 server.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../src/store/object-store.js';
import { startPersistd } from '../run/persistd-process.js';
import { cliReplicaBackends, type CliReplica } from '../support/cli-replicas.js';
import { runPersistd } from '../support/run-persistd.js';
import { tempDirs } from './helpers.js';
import { pollUntil } from '../support/poll.js';

const { fresh, removeAll } = tempDirs();
const { backends, release } = cliReplicaBackends('replica-truth');
afterAll(async () => {
  await release();
  await removeAll();
});

const FILES = 20;

/** An app's data: `up/` with FILES files in three folders, and `tokens.json`. */
async function appData(): Promise<{ up: string; tokens: string }> {
  const root = await fresh('app');
  const up = join(root, 'up');
  for (let i = 0; i < FILES; i++) {
    await mkdir(join(up, `d${i % 3}`), { recursive: true });
    await writeFile(join(up, `d${i % 3}`, `f${i}.txt`), `file ${i}\n`);
  }
  const tokens = join(root, 'tokens.json');
  await writeFile(tokens, '{"ci":"secret-token"}\n');
  return { up, tokens };
}

/** The user files of `up` in the replica (not persistd's own objects), and the loose file's object if any. */
async function stored(store: ObjectStore): Promise<{ up: string[]; tokens: boolean; dirs: boolean }> {
  const up: string[] = [];
  let dirs = false;
  for await (const info of store.list('files/up/')) {
    if (info.key === 'files/up/.persistd/dirs.json') dirs = true;
    else if (!info.key.startsWith('files/up/.persistd/')) up.push(info.key.slice('files/up/'.length));
  }
  return { up: up.sort(), tokens: (await store.head('files/_loose/tokens.json')) !== undefined, dirs };
}

const allFiles = Array.from({ length: FILES }, (_, i) => `d${i % 3}/f${i}.txt`).sort();

describe.each(backends)('the replica is the truth for files (%s)', (_label, makeReplica) => {
  it("a backup to a second replica uploads everything; objects removed behind persistd's back are uploaded again; summaries count the listing", async () => {
    const [first, second] = [await makeReplica(), await makeReplica()];
    const { up, tokens } = await appData();
    const state = await fresh('state');
    const backup = (replica: CliReplica, stateDir = state) =>
      runPersistd(['backup', '--to', replica.url, '--dir', up, '--file', tokens, '--state-dir', stateDir], { env: replica.env });

    const one = await backup(first);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain(`${FILES} file(s) uploaded`);
    expect(await stored(first.store)).toEqual({ up: allFiles, tokens: true, dirs: true });

    // Same state directory, another replica: nothing is taken for stored there.
    const two = await backup(second);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toContain(`${FILES} file(s) uploaded`);
    expect(two.stdout).toContain(`${FILES} in the replica`);
    expect(await stored(second.store)).toEqual({ up: allFiles, tokens: true, dirs: true });

    // Removed behind persistd's back (a lifecycle rule, a bucket emptied by hand): the next backup puts them back.
    await second.store.delete([
      'files/up/d0/f0.txt',
      'files/up/d1/f4.txt',
      'files/up/d2/f8.txt',
      'files/_loose/tokens.json',
      'files/up/.persistd/dirs.json',
    ]);
    expect((await stored(second.store)).up).toHaveLength(FILES - 3);
    const three = await backup(second);
    expect(three.code, three.stderr).toBe(0);
    expect(three.stdout).toContain(`3 file(s) uploaded`);
    expect(three.stdout).toContain(`${FILES} in the replica`);
    expect(await stored(second.store)).toEqual({ up: allFiles, tokens: true, dirs: true });

    // Nothing changed and nothing missing: nothing uploaded.
    const four = await backup(second);
    expect(four.stdout).toContain(`0 file(s) uploaded (0 B), ${FILES} in the replica`);

    // A new state directory against a replica that holds the same files: they are checked, not uploaded again.
    const before = new Map<string, number>();
    for await (const info of first.store.list('files/')) before.set(info.key, info.lastModified.getTime());
    const five = await backup(first, await fresh('state-new'));
    expect(five.code, five.stderr).toBe(0);
    expect(five.stdout).toContain(`0 file(s) uploaded (0 B), ${FILES} in the replica`);
    for await (const info of first.store.list('files/up/d')) expect(info.lastModified.getTime(), info.key).toBe(before.get(info.key));
  }, 120_000);

  it('run uploads again what went missing from the replica: at start (the state directory survived) and on its schedule', async () => {
    const replica = await makeReplica();
    const { up, tokens } = await appData();
    const state = await fresh('run-state');
    const start = () =>
      startPersistd(
        [
          'run',
          '--to',
          replica.url,
          '--dir',
          up,
          '--file',
          tokens,
          '--state-dir',
          state,
          '--reconcile-interval',
          '1s',
          '--',
          process.execPath,
          '-e',
          'setInterval(() => {}, 1000)',
        ],
        replica.env,
      );
    const complete = async () => {
      const now = await stored(replica.store);
      return now.up.length === FILES && now.tokens && now.dirs;
    };

    const first = start();
    await pollUntil('the first run to store every file', complete, 30_000);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(143); // the app's own exit (killed by the forwarded SIGTERM), passed through

    // The disk (and the state directory) survived the restart; the replica lost objects meanwhile.
    await replica.store.delete(['files/up/d0/f3.txt', 'files/_loose/tokens.json']);
    const second = start();
    await pollUntil('the restarted run to store the missing files again', complete, 30_000);
    expect(second.stderr()).toContain('missing from the replica');

    // While it runs, more objects go missing: the next reconcile (every second here) puts them back.
    await replica.store.delete(['files/up/d1/f1.txt', 'files/up/d2/f2.txt', 'files/up/.persistd/dirs.json']);
    await pollUntil('the running instance to store the missing files again', complete, 30_000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(143);
  }, 120_000);
});
