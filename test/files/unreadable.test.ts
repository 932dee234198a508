// Unreadable files and folders (issue 4, item 6): reported, retried, never fatal to the rest, and never
// silently missing from a backup: a one-shot `persistd backup` stores everything else and exits 3
// (partial), naming what it skipped; once access is fixed the next backup stores it and exits 0.
// As root every file is readable, so the CLI runs as `nobody` there (setpriv); otherwise as this user.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCaptured } from '../support/child-process.js';
import { PERSISTD_BIN } from '../support/run-persistd.js';
import { tempDirs } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const skip = isRoot && setpriv === undefined ? 'running as root without setpriv to drop privileges' : undefined;
const { fresh, removeAll } = tempDirs();
/** The folder the test locks things in: given back its access before it is removed. */
let lockedIn: string | undefined;
afterAll(async () => {
  if (lockedIn) {
    await chmod(join(lockedIn, 'src', 'locked.txt'), 0o644).catch(() => undefined);
    await chmod(join(lockedIn, 'src', 'private'), 0o755).catch(() => undefined);
  }
  await removeAll();
});

/** Runs the CLI as an unprivileged user (nobody when this is root). */
async function backupAsUser(args: string[]): Promise<{ code: number | null; out: string }> {
  const argv = isRoot
    ? [setpriv!, '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, PERSISTD_BIN, ...args]
    : [process.execPath, PERSISTD_BIN, ...args];
  const { code, stdout, stderr } = await runCaptured(argv[0]!, argv.slice(1), { cwd: tmpdir(), env: { PATH: process.env.PATH } });
  return { code, out: stdout + stderr };
}

describe.skipIf(skip !== undefined)(`unreadable files and folders${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('a backup stores everything else, exits 3 naming what it skipped, and stores it once it is readable', async () => {
    const dir = await fresh('unreadable');
    lockedIn = dir;
    const [src, bucket, state] = [join(dir, 'src'), join(dir, 'bucket'), join(dir, 'state')];
    await mkdir(join(src, 'private'), { recursive: true });
    await mkdir(bucket);
    await mkdir(state);
    await writeFile(join(src, 'ok.txt'), 'readable\n');
    await writeFile(join(src, 'locked.txt'), 'secret but mine\n');
    await writeFile(join(src, 'private', 'inner.txt'), 'inside a closed folder\n');
    for (const p of [dir, src, bucket, state]) await chmod(p, 0o777);
    await chmod(join(src, 'ok.txt'), 0o644);
    await chmod(join(src, 'locked.txt'), 0o000);
    await chmod(join(src, 'private'), 0o000);
    const args = ['backup', '--to', pathToFileURL(bucket).href, '--dir', src, '--state-dir', state];

    const first = await backupAsUser(args);
    expect(first.code, first.out).toBe(3);
    expect(first.out).toMatch(/2 unreadable file\(s\) or folder\(s\) skipped/);
    expect(first.out).toContain('locked.txt');
    expect(await readFile(join(bucket, 'files', 'src', 'ok.txt'), 'utf8')).toBe('readable\n');
    expect(existsSync(join(bucket, 'files', 'src', 'locked.txt'))).toBe(false);

    await chmod(join(src, 'locked.txt'), 0o644);
    await chmod(join(src, 'private'), 0o755);
    const second = await backupAsUser(args);
    expect(second.code, second.out).toBe(0);
    expect(await readFile(join(bucket, 'files', 'src', 'locked.txt'), 'utf8')).toBe('secret but mine\n');
    expect(await readFile(join(bucket, 'files', 'src', 'private', 'inner.txt'), 'utf8')).toBe('inside a closed folder\n');
  }, 60_000);
});
