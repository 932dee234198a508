import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';

describe('persistd doctor and backup against the real S3 server', () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await createTestBucket('doctor');
  });

  function env(secret = testS3().secretAccessKey): NodeJS.ProcessEnv {
    const s3 = testS3();
    return { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: secret, PERSISTD_S3_ENDPOINT: s3.endpoint, AWS_REGION: s3.region };
  }

  it('passes every probe', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'persistd-doctor-'));
    const result = await runPersistd(['doctor', '--to', `s3://${bucket}/app`], { env: env(), cwd });
    expect(result.stdout).toMatch(/all \d+ checks passed/);
    expect(result.code).toBe(0);
    for (const check of [
      'replica reachable',
      'put/get/list/delete probe',
      'multipart upload probe',
      'conditional writes',
      'clock skew',
      'credentials',
    ]) {
      expect(result.stdout).toMatch(new RegExp(`\\[ ok \\] ${check.replace(/[/]/g, '\\/')}`));
    }
    expect(result.stdout).not.toContain(testS3().secretAccessKey);
    expect(result.stdout).not.toContain(testS3().accessKeyId);
    // The Node version: fine from 22 on; on 20 a warning that says until when it is supported.
    const major = Number(process.versions.node.split('.')[0]);
    expect(result.stdout).toMatch(
      major >= 22 ? /\[ ok \] node +Node 2\d\./ : /\[warn\] node +Node 20\.\d+\.\d+: supported until January 2027/,
    );
  });

  it('fails with exit 4 on a wrong secret, names the cause, and prints no secret', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'persistd-doctor-'));
    const wrongSecret = 'wrongSecretKey0123456789abcdefghijklmnopq';
    const result = await runPersistd(['doctor', '--to', `s3://${bucket}/app`, '--log-level', 'debug'], { env: env(wrongSecret), cwd });
    expect(result.code).toBe(4);
    const output = result.stdout + result.stderr;
    expect(output).toMatch(/\[FAIL\] replica reachable/);
    expect(output).toMatch(/credentials|signature|access key/i);
    expect(output).not.toContain(wrongSecret);
    expect(output).not.toContain(testS3().accessKeyId);
  });

  it('fails with exit 4 when the bucket does not exist, naming the bucket', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'persistd-doctor-'));
    const result = await runPersistd(['doctor', '--to', 's3://persistd-no-such-bucket-xyz/app'], { env: env(), cwd });
    expect(result.code).toBe(4);
    expect(result.stdout).toContain('persistd-no-such-bucket-xyz');
  });

  it('backs up with exit 4 and a clear message when the endpoint refuses connections', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'persistd-doctor-'));
    const result = await runPersistd(['backup', '--to', `s3://${bucket}/app`, '--dir', cwd], {
      env: { ...env(), PERSISTD_S3_ENDPOINT: 'http://127.0.0.1:9' },
      cwd,
      timeoutMs: 120_000,
    });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^persistd: .*failed: ECONNREFUSED/m);
    expect(result.stderr).toMatch(/^hint: .*http:\/\/127\.0\.0\.1:9 is reachable/m);
    expect(result.stderr).not.toContain(testS3().secretAccessKey);
  });
});
