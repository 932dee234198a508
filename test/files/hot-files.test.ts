// Files that never go quiet: rewritten more often than the settle period (JSON state saved every 25 ms) they
// are still backed up, at most once per longest wait and only ever as a complete version; a file held open
// and still being written is never stored half done, however long it takes.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { heldOpenForWriting } from '../../src/files/open-writers.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import { CountingStore } from './counting-store.js';
import { objectBytes, tempDirs } from './helpers.js';
import { spawnCaptured } from '../support/child-process.js';
import { pollUntil } from '../support/poll.js';
import { messageOf } from '../../src/errors.js';

const { fresh, removeAll } = tempDirs();
const children: ChildProcess[] = [];
afterAll(removeAll);
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

async function dirsFor(...labels: string[]): Promise<string[]> {
  return Promise.all(labels.map(fresh));
}

/** Starts `node -e script` in `cwd` and resolves once it printed `ready`. */
async function startChild(script: string, cwd: string): Promise<ChildProcess> {
  const started = spawnCaptured(process.execPath, ['-e', script], { cwd });
  children.push(started.child);
  await Promise.race([
    started.until('the child to print ready', () => started.stdout().includes('ready')),
    started.exited.then(({ code, stderr }) => {
      throw new Error(`child exited (${code}) before it was ready: ${stderr}`);
    }),
  ]);
  return started.child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/**
 * Rewrites two files as fast as an app saving state would: `state.json` in place (open with O_TRUNC, write,
 * close) and `counters.json` by write-to-temp + rename, each version `v<n>:<padding of varying length>:v<n>`
 * so a torn or mixed version is recognisable.
 */
const REWRITER = `
const fs = require('node:fs');
let n = 0;
const version = () => { n++; return 'v' + n + ':' + 'x'.repeat(500 + (n * 7919) % 4000) + ':v' + n; };
setInterval(() => {
  fs.writeFileSync('state.json', version());
  fs.writeFileSync('.counters.tmp', version());
  fs.renameSync('.counters.tmp', 'counters.json');
}, 25);
console.log('ready');
`;

function isCompleteVersion(body: string): boolean {
  const m = /^v(\d+):x*:v(\d+)$/.exec(body);
  return m !== null && m[1] === m[2] && body.length === `v${m[1]}:`.length + 500 + ((Number(m[1]) * 7919) % 4000) + `:v${m[1]}`.length;
}

describe('files that never go quiet', () => {
  it('knows whether a process holds a file open for writing', async () => {
    const [dir] = await dirsFor('held');
    const path = join(dir!, 'f.bin');
    await writeFile(path, 'x');
    expect(await heldOpenForWriting(path)).toBe(false);
    const reader = await startChild(`require('node:fs').openSync('f.bin', 'r'); console.log('ready'); setInterval(() => {}, 1000);`, dir!);
    expect(await heldOpenForWriting(path)).toBe(false);
    const writer = await startChild(`require('node:fs').openSync('f.bin', 'a'); console.log('ready'); setInterval(() => {}, 1000);`, dir!);
    expect(await heldOpenForWriting(path)).toBe(true);
    await stopChild(writer);
    expect(await heldOpenForWriting(path)).toBe(false);
    await stopChild(reader);
  });

  it('a file rewritten every 25 ms is backed up while it keeps changing, only ever as a complete version, about once per longest wait', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new CountingStore(new FsStore(bucket!));
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, rescanIntervalMs: 0, maxSettleMs: 400 });
    await sync.start();
    const writer = await startChild(REWRITER, src!);
    const stored = { 'state.json': new Set<string>(), 'counters.json': new Set<string>() };
    try {
      // Without a longest wait nothing would ever be stored while the writer runs: every file must show two different versions.
      await pollUntil(
        'two stored versions of each file while the writer keeps rewriting them',
        async () => {
          for (const [name, seen] of Object.entries(stored)) {
            const body = (await objectBytes(store, `files/t/${name}`))?.toString();
            if (body === undefined) continue;
            expect(isCompleteVersion(body), `stored ${name} is a complete version: ${body.slice(0, 20)}…${body.slice(-10)}`).toBe(true);
            seen.add(body);
          }
          return Object.values(stored).every((seen) => seen.size >= 2);
        },
        20_000,
      ).catch((err: unknown) => {
        throw new Error(
          `${messageOf(err)}; versions stored: ${Object.entries(stored)
            .map(([n, s]) => `${n} ${s.size}`)
            .join(', ')}; puts ${JSON.stringify([...store.putsByKey])}; status ${JSON.stringify(sync.status())}`,
        );
      });
      expect(writer.exitCode).toBeNull();
    } finally {
      await stopChild(writer);
    }
    // The last version written is the one stored once the writer stopped.
    for (const name of Object.keys(stored)) {
      const last = await readFile(join(src!, name), 'utf8');
      await pollUntil(
        `the last version of ${name} stored`,
        async () => (await objectBytes(store, `files/t/${name}`))?.toString() === last,
        10_000,
      );
    }
    await pollUntil('idle', () => sync.status().queued + sync.status().inFlight + sync.status().settling === 0);
    await sync.stop();
    // Rate: about one PUT per file per longest wait (400 ms), never one per rewrite (every 25 ms).
    const puts = store.putsByKey.get('files/t/state.json') ?? 0;
    expect(puts).toBeGreaterThanOrEqual(2);
    expect(puts, 'PUTs of a file rewritten 40 times a second').toBeLessThan(stored['state.json'].size * 3 + 10);
  }, 40_000);

  it('a file held open and appended to for longer than the longest wait is stored once, whole, after it is closed', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new CountingStore(new FsStore(bucket!));
    // A quiet period far longer than any pause of the writer: a hand-off while it writes could only come from the longest wait.
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, rescanIntervalMs: 0, settleMs: 5000, maxSettleMs: 200 });
    await sync.start();
    try {
      // 30 chunks, one every 50 ms (1.5 s, more than seven longest waits), through one descriptor; then closed.
      const appender = await startChild(
        `
        const fs = require('node:fs');
        const fd = fs.openSync('video.bin', 'w');
        let i = 0;
        console.log('ready');
        const t = setInterval(() => {
          fs.writeSync(fd, Buffer.alloc(64 * 1024, i));
          if (++i === 30) { clearInterval(t); fs.closeSync(fd); process.exit(0); }
        }, 50);`,
        src!,
      );
      await once(appender, 'exit');
      await pollUntil('upload', async () => (await store.head('files/t/video.bin'))?.size === 30 * 64 * 1024, 10_000);
      await pollUntil('idle', () => sync.status().queued + sync.status().inFlight + sync.status().settling === 0);
      expect(store.putsByKey.get('files/t/video.bin')).toBe(1);
      const body = (await objectBytes(store, 'files/t/video.bin'))!;
      for (let i = 0; i < 30; i++) expect(body[i * 64 * 1024], `chunk ${i}`).toBe(i);
    } finally {
      await sync.stop();
    }
  }, 30_000);
});
