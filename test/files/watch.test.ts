import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLooseFileSync, restoreFile } from '../../src/files/loose-file.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { FsStore } from '../../src/store/fs-store.js';
import { CountingStore } from './counting-store.js';
import { keysUnder, objectBytes, tempDirs } from './helpers.js';
import { pollUntil } from '../support/poll.js';
import { messageOf } from '../../src/errors.js';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

async function dirsFor(...labels: string[]): Promise<string[]> {
  return Promise.all(labels.map(fresh));
}

describe('watching', () => {
  it('a file still being written is uploaded once, after it settles', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new CountingStore(new FsStore(bucket!));
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, settleMs: 200, rescanIntervalMs: 0 });
    await sync.start();
    try {
      const fh = await open(join(src!, 'video.bin'), 'w');
      // Writes arrive every 60 ms (less than the settle time) for about half a second.
      for (let i = 0; i < 8; i++) {
        await fh.write(Buffer.alloc(64 * 1024, i));
        await new Promise((r) => setTimeout(r, 60));
      }
      await fh.close();
      const closedAt = Date.now();
      await pollUntil('upload', async () => (await store.head('files/t/video.bin'))?.size === 8 * 64 * 1024);
      expect(Date.now() - closedAt).toBeLessThan(1500);
      await pollUntil('idle', () => sync.status().queued + sync.status().inFlight + sync.status().settling === 0);
      expect(store.putsByKey.get('files/t/video.bin')).toBe(1);
    } finally {
      await sync.stop();
    }
  });

  it('a burst of changes to many files coalesces and drains; a changed file reaches the store within a second', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new CountingStore(new FsStore(bucket!));
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, rescanIntervalMs: 0 });
    await sync.start();
    try {
      // Synchronous writes: the whole burst lands before the watcher gets a turn, so the test does not depend on machine load.
      for (let round = 0; round < 3; round++) for (let i = 0; i < 30; i++) writeFileSync(join(src!, `f${i}.txt`), `round ${round}`);
      await pollUntil('all uploaded', async () => (await keysUnder(store, 'files/t/')).length === 30);
      await pollUntil('idle', () => sync.status().queued + sync.status().inFlight + sync.status().settling === 0);
      for (let i = 0; i < 30; i++) expect((await objectBytes(store, `files/t/f${i}.txt`))?.toString()).toBe('round 2');
      expect(store.counts.put).toBeLessThanOrEqual(35);
      await writeFile(join(src!, 'f7.txt'), 'latest');
      const changedAt = Date.now();
      await pollUntil('change visible', async () => (await objectBytes(store, 'files/t/f7.txt'))?.toString() === 'latest', 3000);
      expect(Date.now() - changedAt).toBeLessThan(1500); // about 250 ms on a quiet machine; bench/files.ts measures p50/p99
    } finally {
      await sync.stop();
    }
  });

  it('files written into folders created a moment before are all uploaded while watching (no rescan, no shutdown flush)', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new CountingStore(new FsStore(bucket!));
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, rescanIntervalMs: 0 });
    await sync.start();
    try {
      // Like an app creating per-task folders (another process, as in life): nested folders made at once, files
      // written into them right away and a few ms later, while persistd's watcher is still catching up.
      const expected: string[] = [];
      for (let task = 0; task < 12; task++)
        for (const rel of ['in.bin', 'out/deep/result.json', 'out/late.txt']) expected.push(`files/t/t${task}/${rel}`);
      const app = spawn(
        process.execPath,
        [
          '-e',
          `
        const fs = require('node:fs');
        let task = 0;
        const next = () => {
          if (task === 12) return;
          const t = 't' + task++;
          fs.mkdirSync(t + '/out/deep', { recursive: true });
          fs.writeFileSync(t + '/in.bin', t + ' in');
          fs.writeFileSync(t + '/out/deep/result.json', t + ' result');
          setTimeout(() => { fs.writeFileSync(t + '/out/late.txt', t + ' late'); next(); }, task % 4);
        };
        next();`,
        ],
        { cwd: src!, stdio: 'inherit' },
      );
      await once(app, 'exit');
      await pollUntil('every file uploaded', async () => (await keysUnder(store, 'files/t/')).length === expected.length, 10_000).catch(
        async (err: unknown) => {
          const have = new Set(await keysUnder(store, 'files/t/'));
          throw new Error(`${messageOf(err)}; missing: ${expected.filter((k) => !have.has(k)).join(', ')}`);
        },
      );
      expect((await keysUnder(store, 'files/t/')).sort()).toEqual(expected.sort());
    } finally {
      await sync.stop();
    }
  });

  it('retries through a store failing 20% of requests and loses nothing', async () => {
    const [src, bucket, state] = await dirsFor('src', 'bucket', 'state');
    const store = new CountingStore(new FsStore(bucket!));
    for (let i = 0; i < 40; i++) await writeFile(join(src!, `f${i}.txt`), `v${i}`);
    store.failRate = 0.2;
    const sync = new TreeSync({ store, name: 't', root: src!, stateDir: state!, rescanIntervalMs: 0 });
    await sync.syncOnce();
    await pollUntil('queue drained', () => sync.status().queued + sync.status().inFlight === 0, 20_000);
    store.failRate = 0;
    await sync.stop();
    expect(await keysUnder(store, 'files/t/')).toHaveLength(40);
    for (let i = 0; i < 40; i++) expect((await objectBytes(store, `files/t/f${i}.txt`))?.toString()).toBe(`v${i}`);
  }, 30_000);
});

describe('loose files', () => {
  it('a loose file rewritten by write-temp-then-rename is uploaded, and restores', async () => {
    const [appDir, bucket, state, elsewhere, state2] = await dirsFor('app', 'bucket', 'state', 'elsewhere', 'state2');
    const store = new FsStore(bucket!);
    const file = join(appDir!, 'admin_tokens.json');
    await writeFile(file, '{"v":1}');
    await writeFile(join(appDir!, 'unrelated.json'), 'not mine');
    const sync = createLooseFileSync({ store, name: 'admin_tokens.json', path: file, stateDir: state!, rescanIntervalMs: 0 });
    await sync.start();
    try {
      expect((await objectBytes(store, 'files/_loose/admin_tokens.json'))?.toString()).toBe('{"v":1}');
      for (let v = 2; v <= 4; v++) {
        await writeFile(`${file}.tmp-${v}`, `{"v":${v}}`);
        await rename(`${file}.tmp-${v}`, file);
        await pollUntil(
          `v${v} uploaded`,
          async () => (await objectBytes(store, 'files/_loose/admin_tokens.json'))?.toString() === `{"v":${v}}`,
          3000,
        );
      }
      await writeFile(join(appDir!, 'unrelated.json'), 'still not mine');
      await sync.syncOnce();
      expect(await keysUnder(store, 'files/')).toEqual(['files/_loose/admin_tokens.json']);
    } finally {
      await sync.stop();
    }
    const target = join(elsewhere!, 'security', 'admin_tokens.json');
    expect((await restoreFile({ store, name: 'admin_tokens.json', path: target, stateDir: state2! })).kind).toBe('downloaded');
    expect((await objectBytes(store, 'files/_loose/admin_tokens.json'))?.toString()).toBe('{"v":4}');
    expect((await restoreFile({ store, name: 'admin_tokens.json', path: target, stateDir: state2! })).kind).toBe('skipped');
    expect((await restoreFile({ store, name: 'missing.json', path: join(elsewhere!, 'm.json'), stateDir: state2! })).kind).toBe('absent');
  });
});
