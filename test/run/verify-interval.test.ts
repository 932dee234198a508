import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, it } from 'vitest';
import { logLines, startPersistd } from './persistd-process.js';

const NOTES_APP = fileURLToPath(new URL('./fixtures/notes-app.mjs', import.meta.url));

describe('persistd run --verify-interval', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'persistd-verify-interval-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('rebuilds and checks the replica on schedule, and a replica that stops verifying is an error and unhealthy', async () => {
    mkdirSync(path.join(dir, 'data'));
    const stateDir = path.join(dir, 'state');
    const replica = path.join(dir, 'replica');
    const run = startPersistd(
      [
        'run',
        '--to',
        `file://${replica}`,
        '--db',
        path.join(dir, 'data', 'app.db'),
        '--state-dir',
        stateDir,
        '--verify-interval',
        '1s',
        '--',
        process.execPath,
        NOTES_APP,
        path.join(dir, 'data', 'app.db'),
        'serve',
        'one',
        'two',
      ],
      { PERSISTD_LOG_LEVEL: 'info' },
    );
    try {
      await run.until(() => run.stderr().includes('replica verified'), 'a verification');
      const status = (): { healthy: boolean; targets: Array<{ lastVerify: { ok: boolean; message: string } | null }> } =>
        JSON.parse(readFileSync(path.join(stateDir, 'status.json'), 'utf8'));
      await run.until(() => status().targets[0]?.lastVerify?.ok === true, 'status.json to show it');

      // Damage the generation's snapshot in the replica: the next check fails loudly.
      const snapDir = path.join(replica, 'db', 'app.db', 'gen');
      const generation = readdirSync(snapDir)[0]!;
      const data = readdirSync(path.join(snapDir, generation, 'snap')).find((f) => /\.db\.(gz|zst)$/.test(f))!;
      writeFileSync(path.join(snapDir, generation, 'snap', data), 'not gzip at all');
      await run.until(() => logLines(run.stderr()).some((l) => l.msg?.startsWith('replica verification FAILED')), 'a failed verification');
      await run.until(() => status().targets[0]?.lastVerify?.ok === false && !status().healthy, 'status.json to show the failure', 10_000);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });
});
