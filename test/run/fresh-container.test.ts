import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';

const NOTES_APP = fileURLToPath(new URL('./fixtures/notes-app.mjs', import.meta.url));

describe('persistd run on a fresh container', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'persistd-fresh-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('restores into directories that do not exist yet (the image does not have them) and starts the app on the data', async () => {
    const replica = `file://${path.join(dir, 'replica')}`;
    const first = path.join(dir, 'first');
    mkdirSync(path.join(first, 'instance'), { recursive: true });
    mkdirSync(path.join(first, 'security'));
    writeFileSync(path.join(first, 'security', 'admin_tokens.json'), '{"admin":"t0k3n"}\n');
    const deploy = (root: string, ...words: string[]) =>
      runPersistd([
        'run',
        '--to',
        replica,
        '--db',
        `app.db=${path.join(root, 'instance', 'app.db')}`,
        '--file',
        `admin_tokens.json=${path.join(root, 'security', 'admin_tokens.json')}`,
        '--state-dir',
        path.join(root, '.persistd'),
        '--',
        process.execPath,
        NOTES_APP,
        path.join(root, 'instance', 'app.db'),
        'exit',
        ...words,
      ]);
    const one = await deploy(first, 'hello', 'world');
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('app start: 0 notes');

    // A new container: neither instance/ nor security/ exists.
    const second = path.join(dir, 'second');
    const two = await deploy(second);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toContain('app start: 2 notes');
    expect(readFileSync(path.join(second, 'security', 'admin_tokens.json'), 'utf8')).toBe('{"admin":"t0k3n"}\n');
  });
});
