// A long restore reports files and bytes done of the listed total (periodic info lines off a terminal);
// a quick one adds no line of its own.
import { afterAll, describe, expect, it } from 'vitest';
import { restoreTree } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { createLogger } from '../../src/log/logger.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { GetOptions, ObjectStore, ObjectWithInfo } from '../../src/store/object-store.js';
import { CaptureStream } from '../log/capture-stream.js';
import { tempDirs } from './helpers.js';
import { pollUntil } from '../support/poll.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

interface Entry {
  msg: string;
  progress?: string;
  items?: number;
  totalItems?: number;
  bytes?: number;
  totalBytes?: number;
}

const entries = (out: CaptureStream): Entry[] =>
  out
    .text()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Entry);

/** A store whose downloads wait until `open()` after the first `held` of them went through. */
function gatedStore(inner: ObjectStore, held: number): ObjectStore & { open(): void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let passed = 0;
  const store = Object.create(inner) as ObjectStore & { open(): void };
  store.getWithInfo = async (key: string, options?: GetOptions): Promise<ObjectWithInfo> => {
    if (passed++ >= held) await gate;
    return inner.getWithInfo(key, options);
  };
  store.open = open;
  return store;
}

describe('restore progress', () => {
  it('logs files and bytes done of the total while a restore runs, then a summary', async () => {
    const [src, bucket, stateA, target, stateB] = (await Promise.all(['src', 'bucket', 'stateA', 'target', 'stateB'].map(fresh))) as [
      string,
      string,
      string,
      string,
      string,
    ];
    for (let i = 0; i < 10; i++) await writeFile(join(src, `f${i}.txt`), 'x'.repeat(100));
    const fs = new FsStore(bucket);
    const sync = new TreeSync({ store: fs, name: 'p', root: src, stateDir: stateA, rescanIntervalMs: 0 });
    await sync.syncOnce();
    await sync.stop();

    const out = new CaptureStream();
    const logger = createLogger({ level: 'info', destination: out, pretty: false });
    const store = gatedStore(fs, 4);
    const restoring = restoreTree({
      store,
      name: 'p',
      root: target,
      stateDir: stateB,
      logger,
      concurrency: 16,
      progress: { delayMs: 0, intervalMs: 20, stream: new CaptureStream() },
    });
    // Four files are through and the rest wait: a periodic line must say so, with the listed totals.
    await pollUntil('a progress line with 4 of 10 files', () =>
      entries(out).some(
        (e) => e.progress === 'restore p' && e.items === 4 && e.totalItems === 10 && e.bytes === 400 && e.totalBytes === 1000,
      ),
    );
    store.open();
    const report = await restoring;
    expect(report.downloaded).toBe(10);
    const summary = entries(out)
      .filter((e) => e.progress === 'restore p')
      .at(-1)!;
    expect(summary).toMatchObject({ items: 10, totalItems: 10, bytes: 1000, totalBytes: 1000 });
    expect(summary.msg).toContain('done');

    // The same restore, quick and with the default delay: no progress line at all.
    const quiet = new CaptureStream();
    const target2 = await fresh('target2');
    await restoreTree({
      store: fs,
      name: 'p',
      root: target2,
      stateDir: await fresh('stateC'),
      logger: createLogger({ level: 'info', destination: quiet, pretty: false }),
      progress: { stream: new CaptureStream() },
    });
    expect(entries(quiet).filter((e) => e.progress !== undefined)).toEqual([]);
    expect(entries(quiet).some((e) => e.msg === 'restored directory')).toBe(true);
  });
});
