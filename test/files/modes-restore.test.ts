// Whoever can write to the bucket chooses the modes a restore sets, and restores often run as root: a planted
// `persistd-mode=6777` must not come back as a setuid-root file, nor a folder entry `7777` as a setgid folder,
// unless the user asks for special modes (--restore-special-modes).
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Of } from '../../src/files/hash-file.js';
import { restoreTree } from '../../src/files/restore-tree.js';
import { encodeFileMetadata } from '../../src/format/files-metadata.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, testS3Store } from '../support/test-s3.js';
import { tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
let s3: S3Store;
beforeAll(async () => {
  s3 = testS3Store(await createTestBucket('modes'));
});
afterAll(async () => {
  s3?.destroy();
  await removeAll();
});

const MTIME = 1_700_000_000_000;

/** A replica holding what an attacker with write access to the bucket would plant. */
async function plant(store: ObjectStore, tree: string): Promise<void> {
  const put = async (rel: string, mode: number): Promise<void> => {
    const body = Buffer.from(`#!/bin/sh\necho ${rel}\n`);
    await store.put(`files/${tree}/${rel}`, body, { metadata: encodeFileMetadata({ mtimeMs: MTIME, mode, sha256: sha256Of(body) }) });
  };
  await put('setuid-root', 0o6777);
  await put('setgid', 0o2755);
  await put('world-writable', 0o666);
  await put('normal', 0o640);
  await put('shared/inside', 0o644);
  const dirs = {
    persistd: 'files-dirs',
    v: 1,
    dirs: [
      ['', '755', MTIME],
      ['shared', '7777', MTIME],
      ['open', '777', MTIME],
      ['tmp-like', '1777', MTIME],
    ],
  };
  await store.put(`files/${tree}/.persistd/dirs.json`, `${JSON.stringify(dirs)}\n`);
}

const modeOf = async (path: string): Promise<number> => (await lstat(path)).mode & 0o7777;

describe.each([
  ['file://', async () => new FsStore(await fresh('bucket'))],
  ['S3 (Ceph RGW)', async () => s3],
] as [string, () => Promise<ObjectStore>][])('modes from the bucket on %s', (_label, makeStore) => {
  it('are masked by default: no setuid/setgid, no world-write without the sticky bit; reported', async () => {
    const store = await makeStore();
    await plant(store, 'planted');
    const root = await fresh('masked');
    const report = await restoreTree({ store, name: 'planted', root, stateDir: await fresh('state') });
    expect(report.failed).toEqual([]);
    expect(await modeOf(join(root, 'setuid-root'))).toBe(0o775);
    expect(await modeOf(join(root, 'setgid'))).toBe(0o755);
    expect(await modeOf(join(root, 'world-writable'))).toBe(0o664);
    expect(await modeOf(join(root, 'normal'))).toBe(0o640);
    expect(await modeOf(join(root, 'shared'))).toBe(0o1777); // setgid dropped; world-write kept with the sticky bit
    expect(await modeOf(join(root, 'open'))).toBe(0o775);
    expect(await modeOf(join(root, 'tmp-like'))).toBe(0o1777);
    expect(report.modesMasked.map((m) => `${m.path}: ${m.why}`).sort()).toEqual([
      'open: 0777 -> 0775',
      'setgid: 2755 -> 0755',
      'setuid-root: 6777 -> 0775',
      'shared: 7777 -> 1777',
      'world-writable: 0666 -> 0664',
    ]);
  });

  it('are restored as recorded when the user opts in (restoreSpecialModes)', async () => {
    const store = await makeStore();
    await plant(store, 'optin');
    const root = await fresh('special');
    const report = await restoreTree({ store, name: 'optin', root, stateDir: await fresh('state'), restoreSpecialModes: true });
    expect(report.modesMasked).toEqual([]);
    // Set as root (tests run as root in the container); an unprivileged chmod may drop setgid on its own.
    if (process.getuid?.() === 0) {
      expect(await modeOf(join(root, 'setuid-root'))).toBe(0o6777);
      expect(await modeOf(join(root, 'shared'))).toBe(0o7777);
    }
    expect(await modeOf(join(root, 'world-writable'))).toBe(0o666);
    expect(await modeOf(join(root, 'open'))).toBe(0o777);
  });
});

describe('persistd restore --restore-special-modes (CLI, file://)', () => {
  it('masks by default and says so; the flag, the variable and the config key restore the recorded modes', async () => {
    const bucket = await fresh('cli-bucket');
    await plant(new FsStore(bucket), 'uploads');
    const run = async (extra: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string; root: string }> => {
      const app = await fresh('cli-app');
      const result = await runPersistd(
        ['restore', '--to', pathToFileURL(bucket).href, '--dir', join(app, 'uploads'), '--state-dir', join(app, 'state'), ...extra],
        { env, cwd: app },
      );
      return { code: result.code, output: result.stdout + result.stderr, root: join(app, 'uploads') };
    };
    const masked = await run([]);
    expect(masked.code, masked.output).toBe(0);
    expect(masked.output).toMatch(/5 without setuid\/setgid or world-write .*--restore-special-modes/);
    expect(await modeOf(join(masked.root, 'setuid-root'))).toBe(0o775);

    const flag = await run(['--restore-special-modes']);
    expect(flag.code, flag.output).toBe(0);
    expect(await modeOf(join(flag.root, 'world-writable'))).toBe(0o666);
    const env = await run([], { PERSISTD_RESTORE_SPECIAL_MODES: 'yes' });
    expect(await modeOf(join(env.root, 'world-writable'))).toBe(0o666);
    const configDir = await fresh('cli-config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'persistd.yml'), 'restore-special-modes: true\n');
    const file = await run(['--config', join(configDir, 'persistd.yml')]);
    expect(await modeOf(join(file.root, 'world-writable'))).toBe(0o666);
    const bad = await run([], { PERSISTD_RESTORE_SPECIAL_MODES: 'maybe' });
    expect(bad.code).toBe(2);
    expect(bad.output).toMatch(/PERSISTD_RESTORE_SPECIAL_MODES="maybe" is neither on/);
  }, 60_000);
});
