import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy/fault-proxy.js';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';
import { runPhase, startPersistd } from './persistd-process.js';
import { createServer } from 'node:net';
import { pollUntil } from '../support/poll.js';

/** A TCP port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

let proxy: FaultProxy;
let bucket: string;
const dirs: string[] = [];
beforeAll(async () => {
  const s3 = testS3();
  bucket = await createTestBucket('health');
  proxy = await startFaultProxy({
    target: s3.endpoint,
    seed: 11,
    keys: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
});
afterAll(async () => {
  await proxy?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('health tells the truth', () => {
  it(
    'a database no generation of which can be stored (PUTs refused): unhealthy within the lag limit, status exits 1 and names the error; healthy again once PUTs work',
    { timeout: 120_000 },
    async () => {
      const s3 = testS3();
      const dir = mkdtempSync(path.join(tmpdir(), 'persistd-health-'));
      dirs.push(dir);
      mkdirSync(path.join(dir, 'data'));
      const db = path.join(dir, 'data', 'app.db');
      const seed = new Database(db);
      seed.pragma('journal_mode = WAL');
      seed.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')");
      seed.close();
      const stateDir = path.join(dir, 'state');
      const env = {
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_REGION: s3.region,
        PERSISTD_S3_ENDPOINT: proxy.endpoint,
        PERSISTD_LOG_LEVEL: 'info',
      };
      const to = `s3://${bucket}/app`;
      // A read-only key: every PUT is refused from the start.
      proxy.setRules([{ methods: ['PUT'], fault: { kind: 'error', status: 403, code: 'AccessDenied' } }]);
      const run = startPersistd(
        ['run', '--to', to, '--db', db, '--state-dir', stateDir, '--', process.execPath, '-e', 'setInterval(() => {}, 1000)'],
        env,
      );
      const status = async () => {
        const result = await runPersistd(['status', '--to', to, '--state-dir', stateDir, '--json'], { env });
        return {
          code: result.code,
          json: JSON.parse(result.stdout || '{}') as {
            local?: { status?: { healthy: boolean; problems: string[]; lastError: { message: string } | null } };
          },
        };
      };
      // Unhealthy from the start ("restore has not completed"): wait for the problem this test is about.
      let seen = await pollUntil(
        'the status to say the database is not protected',
        async () => {
          const now = await status();
          return now.json.local?.status?.problems.some((p) => p.includes('NOT PROTECTED')) ? now : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      expect(seen.json.local?.status?.healthy).toBe(false);
      expect(seen.code).toBe(1);
      expect(seen.json.local?.status?.problems.join('\n')).toMatch(/db app\.db: NOT PROTECTED, no generation stored/);
      expect(seen.json.local?.status?.lastError?.message).toMatch(/AccessDenied|403|denied/i);

      // The key works again: the next sync stores the generation and health comes back.
      proxy.setRules([]);
      seen = await pollUntil(
        'the status to be healthy again',
        async () => {
          const now = await status();
          return now.json.local?.status?.healthy === true ? now : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(seen.json.local?.status?.healthy).toBe(true);
      expect(seen.code).toBe(0);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(143); // the app's own end by SIGTERM, passed through
    },
  );

  it('a state directory that becomes unwritable makes the run unhealthy and names it', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'persistd-health-state-'));
    dirs.push(dir);
    mkdirSync(path.join(dir, 'data'));
    const stateDir = path.join(dir, 'state');
    const port = await freePort();
    const run = startPersistd(
      [
        'run',
        '--to',
        `file://${path.join(dir, 'replica')}`,
        '--dir',
        path.join(dir, 'data'),
        '--state-dir',
        stateDir,
        '--metrics-addr',
        `127.0.0.1:${port}`,
        '--',
        process.execPath,
        '-e',
        'setInterval(() => {}, 1000)',
      ],
      { PERSISTD_LOG_LEVEL: 'info' },
    );
    // Running: the app started and the directory's first pass (which writes its index there) is done.
    await run.until(() => run.stderr().includes('app started') && runPhase(stateDir) === 'running', 'the app and the first pass');
    // The state directory is replaced by a file (root ignores permissions, so no chmod): nothing can be written there.
    // The status file is still rewritten every few seconds: a removal that races one of its writes is retried.
    rmSync(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 20 });
    writeFileSync(stateDir, 'not a directory');
    await run.until(() => run.stderr().includes('could not write the status file'), 'the failure to be noticed', 30_000);
    expect(run.stderr()).toContain(stateDir);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.text()).toContain(`the state directory ${stateDir} cannot be written`);
    run.child.kill('SIGTERM');
    await run.exited;
  });
});
