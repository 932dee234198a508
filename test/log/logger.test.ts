import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PersistdError } from '../../src/errors.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { clearRegisteredSecrets, registerSecret } from '../../src/log/redact.js';
import { CaptureStream } from './capture-stream.js';
import { FAKE } from './fake-secrets.js';

const ALL_SECRETS = [FAKE.accessKeyId, FAKE.tempAccessKeyId, FAKE.secretKey, FAKE.sessionToken, FAKE.signature, FAKE.hmacKey];

function expectNoSecrets(text: string): void {
  for (const secret of ALL_SECRETS) expect(text).not.toContain(secret);
  // Partial leaks: a recognizable chunk of a secret is as bad as all of it.
  expect(text).not.toContain(FAKE.secretKey.slice(0, 16));
  expect(text).not.toContain(FAKE.sessionToken.slice(0, 16));
  expect(text).not.toContain(encodeURIComponent(FAKE.sessionToken).slice(0, 16));
  expect(text).toContain('***');
}

function errorCarryingSecrets(): Error {
  const cause = new Error(`inner failure with token ${FAKE.sessionToken}`);
  const err = new Error(`request to ${FAKE.presignedUrl} failed with key ${FAKE.secretKey}`, { cause });
  // Stacks repeat the message; make sure the stack has secrets that the message alone would not cover.
  err.stack = `Error: signing with ${FAKE.secretKey} as ${FAKE.accessKeyId}\n    at sign (s3.ts:1:1)`;
  return err;
}

beforeEach(() => {
  registerSecret(FAKE.secretKey);
  registerSecret(FAKE.sessionToken);
  registerSecret(FAKE.hmacKey);
});
afterEach(() => clearRegisteredSecrets());

describe('createLogger', () => {
  it('writes JSON lines named persistd', () => {
    const out = new CaptureStream();
    const log = createLogger({ level: 'info', destination: out, pretty: 'auto' });
    log.info({ target: 'app.db' }, 'restored');
    log.debug('not shown at info');
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ name: 'persistd', msg: 'restored', target: 'app.db', level: 30 });
    expect(typeof entry['time']).toBe('string');
  });

  it('redacts secrets in the message, error message, error stack, cause and nested fields', () => {
    const out = new CaptureStream();
    const log = createLogger({ level: 'trace', destination: out, pretty: false });
    log.info(`using access key ${FAKE.accessKeyId} and secret ${FAKE.secretKey}`);
    log.error({ err: errorCarryingSecrets() }, 'upload failed');
    log.warn({ request: { url: FAKE.presignedUrl, headers: { 'x-amz-security-token': FAKE.sessionToken } } }, 'retrying');
    log.info({ config: { hmac: FAKE.hmacKey, list: [FAKE.secretKey] } }, 'config %s', FAKE.tempAccessKeyId);
    log.error(errorCarryingSecrets());
    const text = out.text();
    expectNoSecrets(text);
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(5);
    // Every line is still valid JSON after redaction.
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(text).toContain('X-Amz-Expires=900');
  });

  it('redacts secrets registered after the logger was created', () => {
    const out = new CaptureStream();
    const log = createLogger({ level: 'info', destination: out, pretty: false });
    const late = 'r2-secret-registered-late-0123456789';
    registerSecret(late);
    log.info(`r2 key is ${late}`);
    expect(out.text()).not.toContain(late);
    expect(out.text()).toContain('r2 key is ***');
  });

  it('redacts structured credential fields even when the secret was never registered', () => {
    clearRegisteredSecrets();
    const out = new CaptureStream();
    const log = createLogger({ level: 'info', destination: out, pretty: false });
    log.info(
      { credentials: { accessKeyId: FAKE.accessKeyId, secretAccessKey: FAKE.secretKey, sessionToken: FAKE.sessionToken } },
      'resolved',
    );
    log.info(`env AWS_SECRET_ACCESS_KEY=${FAKE.secretKey}`);
    expectNoSecrets(out.text());
  });

  it('pretty-prints on a terminal and still redacts', () => {
    const out = new CaptureStream({ isTTY: true });
    const log = createLogger({ level: 'info', destination: out, pretty: 'auto' });
    log.error({ err: errorCarryingSecrets(), url: FAKE.presignedUrl }, 'upload failed');
    const text = out.text();
    expect(text).toContain('ERROR');
    expect(text).toContain('upload failed');
    expect(() => JSON.parse(text.split('\n')[0]!) as unknown).toThrow();
    expectNoSecrets(text);
  });

  it('redacts PersistdError fields (hint, path)', () => {
    const out = new CaptureStream();
    const log = createLogger({ level: 'info', destination: out, pretty: false });
    const err = new PersistdError(`auth failed for ${FAKE.accessKeyId}`, {
      kind: 'storage',
      path: `s3://${FAKE.accessKeyId}:${FAKE.secretKey}@bucket/app`,
      hint: `check aws_secret_access_key=${FAKE.secretKey}`,
    });
    log.error({ err }, 'doctor');
    expectNoSecrets(out.text());
    expect(out.text()).toContain('"kind":"storage"');
  });

  it('writes to a file descriptor synchronously, so nothing is lost on an immediate exit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'persistd-log-'));
    try {
      const file = join(dir, 'log.jsonl');
      const fd = openSync(file, 'w');
      const log = createLogger({ level: 'info', destination: fd, pretty: 'auto' });
      log.fatal({ err: errorCarryingSecrets() }, 'giving up');
      // No await, no flush: the line must already be in the file, as it would be before process.exit().
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('giving up');
      expectNoSecrets(text);
      log.flush();
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('flush(cb) calls back for stream destinations', async () => {
    const out = new CaptureStream();
    const log = createLogger({ level: 'info', destination: out, pretty: false });
    log.info('before exit');
    await new Promise<void>((resolve, reject) => log.flush((err) => (err ? reject(err) : resolve())));
    expect(out.text()).toContain('before exit');
  });

  it('silentLogger writes nothing and accepts every call', () => {
    const log = silentLogger();
    expect(log.level).toBe('silent');
    expect(() => log.child({ a: 1 }).error(new Error('x'))).not.toThrow();
  });
});
