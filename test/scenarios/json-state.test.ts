// Scenario (issue #7, item 4d): an app whose state is JSON files rewritten in place many times a minute
// (write to temp + rename, and plain truncating in-place writes). After a lost container every file is
// byte-identical to a version the app wrote completely: the last one after a SIGTERM stop, and one it
// finished (never half of one) after a crash.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Container, eventually } from './support/container.js';
import { fileReplica, s3Replica, type ScenarioReplica } from './support/replicas.js';
import { fileDigests, sha256 } from './support/state.js';

const APP = fileURLToPath(new URL('./fixtures/json-state-app.mjs', import.meta.url));
const FILES = ['counters.json', 'feed.json', 'session.json'];

function stateContainer(replica: ScenarioReplica) {
  const base = mkdtempSync(path.join(tmpdir(), 'persistd-scenario-json-'));
  const journal = path.join(base, 'journal.txt');
  const box = new Container({
    root: path.join(base, 'container'),
    imageDirs: [],
    replica,
    targets: ['--dir', 'state'],
    env: { JOURNAL: journal, TICK_MS: '120' },
  });
  /** sha256 of every complete version the app wrote, per file, in order. */
  const versions = (): Record<string, string[]> => {
    const byFile: Record<string, string[]> = Object.fromEntries(FILES.map((file) => [file, []]));
    if (!existsSync(journal)) return byFile;
    for (const line of readFileSync(journal, 'utf8').split('\n')) {
      const [file, digest] = line.split(' ');
      if (file && digest) byFile[file]?.push(digest);
    }
    return byFile;
  };
  return { box, versions };
}

describe('scenario: JSON state files rewritten in place many times a minute', () => {
  it('after a SIGTERM stop, each file comes back as the last version the app wrote (S3)', async () => {
    const { box, versions } = stateContainer(await s3Replica('scenario-json-stop'));
    const first = box.deploy([process.execPath, APP, 'write']);
    await first.ready();
    await eventually(() => (Object.values(versions()).every((list) => list.length >= 4) ? true : undefined), 'four versions of every file');
    const stopped = await first.stop();
    expect(stopped.code).toBe(0);
    expect(first.output.stderr).toContain('final backup complete');
    const written = versions();
    const local = fileDigests(box.path('state'));
    expect(local).toEqual(Object.fromEntries(FILES.map((file) => [file, written[file]!.at(-1)])));

    box.lose();
    const second = box.deploy([process.execPath, APP, 'idle']);
    await second.ready();
    expect(fileDigests(box.path('state'))).toEqual(local);
    for (const file of FILES) expect((JSON.parse(readFileSync(box.path('state', file), 'utf8')) as { final: boolean }).final).toBe(true);
    expect((await second.stop()).code).toBe(0);
  });

  it('after a crash (SIGKILL of persistd and the app) mid-rewrite, each file is a version the app completed (S3)', async () => {
    const replica = await s3Replica('scenario-json-crash');
    const { box, versions } = stateContainer(replica);
    const first = box.deploy([process.execPath, APP, 'write']);
    const { appPid } = await first.ready();
    // Crash once every file has been backed up at least once while it kept changing, and was rewritten since.
    const backedUp = new Map<string, number>();
    await eventually(async () => {
      const written = versions();
      for (const file of FILES) {
        if (backedUp.has(file)) continue;
        const body = await replica.get(`files/state/${file}`);
        if (body) backedUp.set(file, written[file]!.length);
      }
      return FILES.every((file) => (written[file]?.length ?? 0) > (backedUp.get(file) ?? Infinity) + 2) ? true : undefined;
    }, 'every file backed up and rewritten since');
    await first.crash(appPid);
    const written = versions();

    box.lose();
    const second = box.deploy([process.execPath, APP, 'idle']);
    await second.ready();
    const restored = fileDigests(box.path('state'));
    // Exactly the three state files (no temp files, no half-downloaded parts) ...
    expect(Object.keys(restored)).toEqual(FILES);
    for (const file of FILES) {
      // ... each one byte-identical to a version the app wrote completely, and to what the replica holds.
      expect(written[file]).toContain(restored[file]);
      expect(sha256((await replica.get(`files/state/${file}`))!)).toBe(restored[file]);
      expect(() => JSON.parse(readFileSync(box.path('state', file), 'utf8')) as unknown).not.toThrow();
    }
    expect((await second.stop()).code).toBe(0);
  });

  it('backs up files rewritten every 60 ms while the app keeps running, only ever as versions it completed; a crash restores them (file://)', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'persistd-scenario-json-hot-'));
    const replica = fileReplica(path.join(base, 'replica'));
    const journal = path.join(base, 'journal.txt');
    const box = new Container({
      root: path.join(base, 'container'),
      imageDirs: [],
      replica,
      targets: ['--dir', 'state'],
      env: { JOURNAL: journal, TICK_MS: '20' },
    });
    const run = box.deploy([process.execPath, APP, 'write']);
    const { appPid } = await run.ready();
    // None of the files is ever quiet for the 200 ms settle period; each must still reach the replica, again and again.
    const stored: Record<string, Set<string>> = Object.fromEntries(FILES.map((file) => [file, new Set<string>()]));
    try {
      await eventually(
        async () => {
          for (const file of FILES) {
            const body = await replica.get(`files/state/${file}`);
            if (body) stored[file]!.add(sha256(body));
          }
          return FILES.every((file) => stored[file]!.size >= 2) ? true : undefined;
        },
        'two stored versions of every file while the app keeps rewriting them',
        30_000,
      );
    } finally {
      await run.crash(appPid);
    }
    const written: Record<string, string[]> = Object.fromEntries(FILES.map((file) => [file, []]));
    for (const line of readFileSync(journal, 'utf8').split('\n')) {
      const [file, digest] = line.split(' ');
      if (file && digest) written[file]?.push(digest);
    }
    for (const file of FILES)
      for (const digest of stored[file]!) expect(written[file], `every stored ${file} is a version the app completed`).toContain(digest);

    box.lose();
    const second = box.deploy([process.execPath, APP, 'idle']);
    await second.ready();
    const restored = fileDigests(box.path('state'));
    expect(Object.keys(restored).sort()).toEqual([...FILES].sort());
    for (const file of FILES) expect(written[file]).toContain(restored[file]);
    expect((await second.stop()).code).toBe(0);
  });
});
