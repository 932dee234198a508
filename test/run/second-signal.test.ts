import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { logLines, startPersistd } from './persistd-process.js';

const APP = fileURLToPath(new URL('./fixtures/notes-app.mjs', import.meta.url));

describe('persistd run and a second stop signal', () => {
  it('skips the --app-stop-timeout wait: SIGKILLs the app at once, still takes the final backup, exits 128+9', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'persistd-second-signal-'));
    mkdirSync(path.join(dir, 'data'));
    const db = path.join(dir, 'data', 'app.db');
    const args = ['--to', `file://${path.join(dir, 'replica')}`, '--db', db, '--state-dir', path.join(dir, 'state')];
    // The wait this skips is far longer than the test's own timeout.
    const run = startPersistd(['run', ...args, '--app-stop-timeout', '10m', '--', process.execPath, APP, db, 'ignore-term', 'kept'], {
      PERSISTD_LOG_LEVEL: 'info',
    });
    await run.until(() => run.stdout().includes('app ready'), 'the app');
    run.child.kill('SIGTERM');
    await run.until(() => run.stdout().includes('app: ignoring SIGTERM'), 'the app to ignore SIGTERM');
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(137);
    const messages = logLines(run.stderr()).map((line) => line.msg ?? '');
    expect(messages).toContain('second stop signal: killing the app now');
    expect(
      messages.some((msg) => msg.startsWith('final backup complete') || msg.startsWith('final backup took most')),
      run.stderr(),
    ).toBe(true);

    // The final backup holds the app's data.
    rmSync(path.join(dir, 'data'), { recursive: true, force: true });
    rmSync(path.join(dir, 'state'), { recursive: true, force: true });
    mkdirSync(path.join(dir, 'data'));
    const again = startPersistd(['run', ...args, '--', process.execPath, APP, db, 'exit'], { PERSISTD_LOG_LEVEL: 'info' });
    expect(await again.exited).toBe(0);
    expect(again.stdout()).toContain('app start: 1 notes');
  });
});
