import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy/fault-proxy.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';
import { logLines, runPhase, startPersistd } from './persistd-process.js';

const APP = fileURLToPath(new URL('./fixtures/notes-app.mjs', import.meta.url));

let proxy: FaultProxy;
let bucket: string;
beforeAll(async () => {
  const s3 = testS3();
  bucket = await createTestBucket('run-faults');
  proxy = await startFaultProxy({
    target: s3.endpoint,
    seed: 7,
    keys: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
});
afterAll(async () => proxy?.stop());
beforeEach(() => proxy.setRules([]));

/** A data directory and a replica prefix of its own, reached through the fault proxy. */
function sandbox(label: string) {
  const s3 = testS3();
  const dir = mkdtempSync(path.join(tmpdir(), `persistd-${label}-`));
  mkdirSync(path.join(dir, 'data'));
  const db = path.join(dir, 'data', 'app.db');
  const env: NodeJS.ProcessEnv = {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    PERSISTD_S3_ENDPOINT: proxy.endpoint,
    PERSISTD_LOG_LEVEL: 'info',
  };
  const stateDir = path.join(dir, 'state');
  const args = ['--to', `s3://${bucket}/${label}-${Date.now().toString(36)}`, '--db', db, '--state-dir', stateDir];
  const run = (extra: string[], appArgs: string[], moreEnv: NodeJS.ProcessEnv = {}) =>
    startPersistd(['run', ...args, ...extra, '--', process.execPath, APP, db, ...appArgs], { ...env, ...moreEnv });
  const loseContainer = (): void => {
    rmSync(path.join(dir, 'data'), { recursive: true, force: true });
    rmSync(path.join(dir, 'state'), { recursive: true, force: true });
    mkdirSync(path.join(dir, 'data'));
  };
  return { run, loseContainer, phase: () => runPhase(stateDir) };
}

describe('persistd run when the store fails', () => {
  it("store down at shutdown: the final backup retries until --shutdown-timeout, then a clear error, and the app's code is passed through and logged", async () => {
    const box = sandbox('down-at-shutdown');
    const run = box.run(['--shutdown-timeout', '3s'], ['serve', 'first'], { APP_STOP_CODE: '3' });
    await run.until(() => run.stdout().includes('app ready') && box.phase() === 'running', 'the app to run and replication to start');
    proxy.setRules([{ fault: { kind: 'error', status: 503, code: 'SlowDown' } }]);
    const before = proxy.stats().requests;
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(3);
    expect(run.stdout()).toContain('app: stopped cleanly');
    const incomplete = logLines(run.stderr()).find((line) => line.msg?.includes('final backup INCOMPLETE'));
    expect(incomplete, run.stderr()).toBeDefined();
    expect(incomplete!.appExitCode).toBe(3);
    expect(incomplete!.level).toBe(50);
    // It kept trying for the whole deadline instead of giving up after one failure.
    expect(incomplete!.durationMs as number).toBeGreaterThanOrEqual(3_000 * 0.9);
    expect(proxy.stats().requests - before).toBeGreaterThan(2);
  });

  it("store failing for a moment at shutdown: a later attempt of the final backup stores the app's last write", async () => {
    const box = sandbox('back-at-shutdown');
    const run = box.run(['--shutdown-timeout', '20s'], ['serve', 'first']);
    await run.until(
      () => run.stdout().includes('app ready') && run.stderr().includes('took the lineage pointer'),
      'the app to run and its first generation to be stored',
    );
    proxy.setRules([{ fault: { kind: 'error', status: 503, code: 'SlowDown' }, activeForMs: 2_000 }]);
    const before = proxy.stats().requests;
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    // Whether the request retries or a second attempt of the final backup got it through depends on
    // timing; what must hold is that it got through, and that the outage was really hit.
    const done = logLines(run.stderr()).find(
      (line) => line.msg?.startsWith('final backup complete') || line.msg?.startsWith('final backup took most'),
    );
    expect(done, run.stderr()).toBeDefined();
    expect(proxy.stats().requests - before).toBeGreaterThan(1);
    box.loseContainer();
    const again = box.run([], ['exit']);
    expect(await again.exited).toBe(0);
    expect(again.stdout()).toContain('app start: 2 notes');
  });
});

describe('persistd run when the store is slow or gone during restore', () => {
  it('SIGTERM during restore: stops cleanly with exit 130 and never starts the app', async () => {
    const box = sandbox('term-in-restore');
    expect(await box.run([], ['exit', 'seeded']).exited).toBe(0);
    box.loseContainer();
    proxy.setRules([{ fault: { kind: 'hang', when: 'before-response' }, operations: ['get-object'] }]);
    const run = box.run([], ['serve']);
    await run.until(() => Object.keys(proxy.stats().injected).some((what) => what.startsWith('hang')), 'restore to be stuck on a download');
    run.child.kill('SIGTERM');
    const code = await run.exited;
    expect(code).toBe(130);
    expect(run.stdout()).not.toContain('app start');
    expect(run.stderr()).toContain('stopped during restore: the app was not started');
  });

  it('--restore-timeout with an unresponsive store: the app is not started, the message names the timeout, exit 4', async () => {
    const box = sandbox('restore-timeout');
    expect(await box.run([], ['exit', 'seeded']).exited).toBe(0);
    box.loseContainer();
    proxy.setRules([{ fault: { kind: 'hang', when: 'before-response' } }]);
    const run = box.run(['--restore-timeout', '2s'], ['serve']);
    const code = await run.exited;
    expect(run.stdout()).not.toContain('app start');
    expect(run.stderr()).toContain('restore did not finish within --restore-timeout 2s');
    expect(run.stderr()).toContain('the app is NOT started');
    expect(code).toBe(4);
  }, 60_000);
});
