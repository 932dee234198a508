// Issue 12, item 2: during a deploy overlap the old instance never overwrites or deletes what the new one
// wrote. A (old) and B (new) run on the same replica, with files and directories and no database; B takes
// the files owner pointer; A's later changes, its final backup included, are kept aside, listed, and
// restorable on purpose. On file:// and on the real S3 server.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readText } from '../../src/files/dir-manifest.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { cliReplicaBackends } from '../support/cli-replicas.js';
import { runPersistd } from '../support/run-persistd.js';
import { logLines, startPersistd, type PersistdProcess } from './persistd-process.js';
import { pollUntil } from '../support/poll.js';

const APP = fileURLToPath(new URL('./fixtures/files-app.mjs', import.meta.url));
const made: string[] = [];
const { backends, release } = cliReplicaBackends('overlap-files');
afterAll(async () => {
  await release();
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function text(store: ObjectStore, key: string): Promise<string | undefined> {
  if ((await store.head(key)) === undefined) return undefined;
  return readText(await store.get(key));
}

/** pollUntil with the instance's stderr in the timeout error. */
async function until(what: string, check: () => Promise<boolean> | boolean, process?: PersistdProcess, timeoutMs = 30_000): Promise<void> {
  await pollUntil(what, check, { timeoutMs, intervalMs: 50, ...(process ? { detail: () => `stderr: ${process.stderr()}` } : {}) });
}

describe.each(backends)('files during a deploy overlap (%s)', (_label, makeReplica) => {
  it('the old instance is fenced: its late writes and deletes never reach the live files, they are kept aside and restorable on purpose', async () => {
    const replica = await makeReplica();
    const base = await mkdtemp(path.join(tmpdir(), 'persistd-overlap-files-'));
    made.push(base);
    const container = (label: string): string => {
      const dir = path.join(base, label);
      mkdirSync(dir, { recursive: true });
      return dir;
    };
    const targets = (dir: string): string[] => [
      '--dir',
      `up=${path.join(dir, 'up')}`,
      '--file',
      `state.json=${path.join(dir, 'state.json')}`,
    ];
    const start = (label: string): PersistdProcess => {
      const dir = container(label);
      return startPersistd(
        ['run', '--to', replica.url, ...targets(dir), '--state-dir', path.join(dir, '.state'), '--', process.execPath, APP, dir, label],
        { ...replica.env, PERSISTD_LOG_LEVEL: 'debug' },
      );
    };
    const liveState = async (): Promise<{ by: string; when: string } | undefined> => {
      const body = await text(replica.store, 'files/_loose/state.json');
      return body === undefined ? undefined : (JSON.parse(body) as { by: string; when: string });
    };

    // The old instance A runs with a file it shares with every later one.
    mkdirSync(path.join(container('A'), 'up'), { recursive: true });
    writeFileSync(path.join(base, 'A', 'up', 'shared.txt'), 'shared\n');
    const a = start('A');
    await until(
      'A to store its files',
      async () => (await liveState())?.by === 'A' && (await replica.store.head('files/up/shared.txt')) !== undefined,
      a,
    );
    expect(a.stderr()).toContain('took the files owner pointer');

    // The new instance B starts on a fresh disk: it restores A's files, then its app writes its own state.
    const b = start('B');
    await until(
      'B to store its state',
      async () => (await liveState())?.by === 'B' && (await replica.store.head('files/up/B-start.txt')) !== undefined,
      b,
    );
    expect(readFileSync(path.join(base, 'B', 'up', 'shared.txt'), 'utf8')).toBe('shared\n');

    // A keeps running and writes a file: it finds the pointer taken, is fenced and keeps the file aside.
    appendFileSync(path.join(base, 'A', 'commands'), 'write during.txt\n');
    await until('A to be fenced', () => a.stderr().includes('fenced: another persistd instance'), a);
    const fencedLine = logLines(a.stderr()).find(
      (line) => typeof line.msg === 'string' && line.msg.startsWith('fenced: another persistd instance'),
    )!;
    expect(fencedLine.level).toBe(50);
    await until(
      "A's status to say it is fenced",
      () => {
        try {
          const status = JSON.parse(readFileSync(path.join(base, 'A', '.state', 'status.json'), 'utf8')) as {
            healthy: boolean;
            problems: string[];
          };
          return !status.healthy && status.problems.some((p) => p.includes('fenced, another instance took over the files'));
        } catch {
          return false;
        }
      },
      a,
    );

    // A is stopped after B took over; its app rewrites state.json, writes a file and removes shared.txt in its handler.
    a.child.kill('SIGTERM');
    expect(await a.exited, a.stderr()).toBe(0);
    const final = logLines(a.stderr()).find((line) => typeof line.msg === 'string' && line.msg.startsWith('final backup kept aside'));
    expect(final, a.stderr()).toBeDefined();
    expect((final!.keptAside as { files: number }).files, a.stderr()).toBeGreaterThanOrEqual(3);
    expect((final!.keptAside as { deletesHeld: number }).deletesHeld, a.stderr()).toBe(1);

    // The live files are B's, untouched by A: its state, its files, and shared.txt that A deleted locally.
    expect(await liveState(), a.stderr()).toEqual({ by: 'B', when: 'start' });
    expect(await replica.store.head('files/up/A-late.txt'), a.stderr()).toBeUndefined();
    expect(await replica.store.head('files/up/during.txt'), a.stderr()).toBeUndefined();
    expect(await text(replica.store, 'files/up/shared.txt'), a.stderr()).toBe('shared\n');
    b.child.kill('SIGTERM');
    expect(await b.exited, b.stderr()).toBe(0);

    // The next deploy restores B's state and uploads, and none of A's late writes.
    const c = container('C');
    const restored = await runPersistd(['restore', '--to', replica.url, ...targets(c), '--state-dir', path.join(c, '.state')], {
      env: replica.env,
    });
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(c, 'state.json'), 'utf8'))).toEqual({ by: 'B', when: 'stop' });
    expect(existsSync(path.join(c, 'up', 'B-start.txt'))).toBe(true);
    // B's own handler removed shared.txt too: the live instance's delete does reach the replica.
    expect(existsSync(path.join(c, 'up', 'shared.txt'))).toBe(false);
    expect(existsSync(path.join(c, 'up', 'A-late.txt'))).toBe(false);
    expect(existsSync(path.join(c, 'up', 'during.txt'))).toBe(false);

    // What A kept aside is listed, and restores on purpose.
    const status = await runPersistd(['status', '--remote', '--json', '--to', replica.url, '--state-dir', path.join(c, '.state')], {
      env: replica.env,
    });
    const remote = (
      JSON.parse(status.stdout) as { remote: { keptAside: Array<{ instance: string; files: number; fencedBy: { host: string } | null }> } }
    ).remote;
    expect(remote.keptAside).toHaveLength(1);
    const aside = remote.keptAside[0]!;
    expect(aside.files).toBeGreaterThanOrEqual(3);
    expect(aside.fencedBy).not.toBeNull();
    const listed = await runPersistd(['snapshots', '--to', replica.url], { env: replica.env });
    expect(listed.stdout).toContain(`kept aside by instance ${aside.instance}`);
    const d = container('D');
    const onPurpose = await runPersistd(
      ['restore', '--aside', aside.instance, '--to', replica.url, ...targets(d), '--state-dir', path.join(d, '.state')],
      { env: replica.env },
    );
    expect(onPurpose.code, onPurpose.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(d, 'state.json'), 'utf8'))).toEqual({ by: 'A', when: 'stop' });
    expect(readFileSync(path.join(d, 'up', 'A-late.txt'), 'utf8')).toBe('A late\n');
    expect(readFileSync(path.join(d, 'up', 'during.txt'), 'utf8')).toBe('A wrote during.txt\n');
  }, 120_000);
});
