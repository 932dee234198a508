import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRYPOINT = path.join(ROOT, 'entrypoint.sh');

function runEntrypoint(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync('/bin/sh', [ENTRYPOINT, ...args], { env, encoding: 'utf8', timeout: 30_000 });
}

describe('Dockerfile', () => {
  it('passes the Dockerfile linter with no findings', () => {
    const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(validate(text)).toEqual([]);
  });

  it('puts node, the built package and production dependencies in /opt/persistd and uses the entrypoint', () => {
    const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(text).toMatch(/npm prune --omit=dev/);
    expect(text).toMatch(/cp \/usr\/local\/bin\/node \/opt\/persistd\/node\/bin\/node/);
    expect(text).toMatch(/ENTRYPOINT \["\/opt\/persistd\/entrypoint.sh"\]/);
    // Both stages on Node 24: the native addon built in the first must match the node copied in the second.
    expect(text.match(/^FROM .*/gm)).toEqual(['FROM node:24-bookworm-slim AS build', 'FROM node:24-bookworm-slim']);
  });
});

describe('entrypoint.sh', () => {
  const base = { PATH: process.env.PATH, HOME: process.env.HOME };

  it('is valid POSIX sh', () => {
    expect(spawnSync('/bin/sh', ['-n', ENTRYPOINT]).status).toBe(0);
  });

  it('runs the app under persistd run and passes its exit code through', () => {
    const result = runEntrypoint([process.execPath, '-e', 'console.log("hello from app"); process.exit(3)'], {
      ...base,
      PERSISTD_DISABLED: '1',
    });
    expect(result.status).toBe(3);
    expect(result.stdout).toContain('hello from app');
    expect(result.stderr).toContain('WITHOUT persistence');
  });

  it('refuses to start the app when no replica is configured', () => {
    const result = runEntrypoint([process.execPath, '-e', 'console.log("app ran")'], base);
    expect(result.status).toBe(2);
    expect(result.stdout).not.toContain('app ran');
    expect(result.stderr).toContain('PERSISTD_URL');
  });

  it('exits 2 with a hint when no app command is given', () => {
    const result = runEntrypoint([], base);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('no app command given');
  });

  it('prefers the node shipped in PERSISTD_HOME, and exits 127 when there is no node at all', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'persistd-home-'));
    mkdirSync(path.join(home, 'node', 'bin'), { recursive: true });
    mkdirSync(path.join(home, 'bin'));
    const marker = path.join(home, 'used');
    writeFileSync(path.join(home, 'node', 'bin', 'node'), `#!/bin/sh\necho "$@" > "${marker}"\nexit 0\n`);
    chmodSync(path.join(home, 'node', 'bin', 'node'), 0o755);
    const shipped = runEntrypoint(['myapp', '--flag'], { ...base, PERSISTD_HOME: home });
    expect(shipped.status).toBe(0);
    expect(readFileSync(marker, 'utf8').trim()).toBe(`${path.join(home, 'bin', 'persistd.js')} run -- myapp --flag`);

    const empty = mkdtempSync(path.join(tmpdir(), 'persistd-home-'));
    const none = runEntrypoint(['myapp'], { PATH: '/nonexistent', PERSISTD_HOME: empty });
    expect(none.status).toBe(127);
    expect(none.stderr).toContain('cannot find node');
  });
});
