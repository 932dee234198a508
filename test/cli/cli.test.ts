import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';

const COMMANDS = ['run', 'restore', 'backup', 'snapshots', 'verify', 'doctor', 'status', 'version'];

describe('persistd CLI surface', () => {
  it('lists every command in --help and exits 0', async () => {
    const result = await runPersistd(['--help']);
    expect(result.code).toBe(0);
    for (const command of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    expect(result.stdout).toContain('Examples:');
  });

  it('gives every command help with examples and the common options', async () => {
    for (const command of COMMANDS.filter((name) => name !== 'version')) {
      const result = await runPersistd([command, '--help']);
      expect(result.code, command).toBe(0);
      expect(result.stdout, command).toContain('Examples:');
      expect(result.stdout, command).toContain('--to <url>');
      expect(result.stdout, command).toContain('PERSISTD_URL');
    }
  });

  it('prints the version', async () => {
    const result = await runPersistd(['version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^persistd \d+\.\d+\.\d+/);
  });

  it('exits 2 with usage help on no command and on an unknown flag', async () => {
    expect((await runPersistd([])).code).toBe(2);
    const unknown = await runPersistd(['backup', '--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--frobnicate'");
    expect(unknown.stderr).toContain('--help');
  });

  it('refuses to run without a replica and names the variables to set', async () => {
    const result = await runPersistd(['run', '--', 'node', '-e', 'console.log("app ran")']);
    expect(result.code).toBe(2);
    expect(result.stdout).not.toContain('app ran');
    expect(result.stderr).toContain('no replica configured');
    expect(result.stderr).toMatch(/hint: .*PERSISTD_URL.*AWS_ACCESS_KEY_ID.*PERSISTD_DISABLED=1/);
  });

  it('reports a bad replica URL with exit 2 and a hint', async () => {
    const result = await runPersistd(['backup', '--to', 'ftp://example/x', '--db', 'x.db']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^persistd: unsupported replica URL scheme "ftp:\/\/"$/m);
    expect(result.stderr).toMatch(/^hint: use s3:\/\/bucket\/prefix/m);
  });

  it('reports a config file problem with exit 2', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'persistd-cli-'));
    const result = await runPersistd(['doctor', '--config', 'missing.yml'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('cannot read config file');
  });
});

describe('persistd run with PERSISTD_DISABLED=1', () => {
  it('runs the app without persistence, warns, and passes its exit code through', async () => {
    const result = await runPersistd(['run', '--', process.execPath, '-e', 'console.log("app ran"); process.exit(7)'], {
      env: { PERSISTD_DISABLED: '1' },
    });
    expect(result.code).toBe(7);
    expect(result.stdout).toContain('app ran');
    expect(result.stderr).toContain('WITHOUT persistence');
  });

  it('exits 127 like a shell when the app command does not exist', async () => {
    const result = await runPersistd(['run', '--', 'no-such-command-persistd-test'], { env: { PERSISTD_DISABLED: '1' } });
    expect(result.code).toBe(127);
    expect(result.stderr).toContain('command not found: no-such-command-persistd-test');
  });

  it('refuses an empty command with exit 2', async () => {
    const result = await runPersistd(['run'], { env: { PERSISTD_DISABLED: '1' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no app command given');
  });
});
