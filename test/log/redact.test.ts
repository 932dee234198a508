import { afterEach, describe, expect, it } from 'vitest';
import { clearRegisteredSecrets, maskSecret, redact, registerSecret } from '../../src/log/redact.js';
import { FAKE } from './fake-secrets.js';

afterEach(() => clearRegisteredSecrets());

describe('redact: registered secrets', () => {
  it('replaces every occurrence of a registered secret', () => {
    registerSecret(FAKE.secretKey);
    const out = redact(`key=${FAKE.secretKey} again ${FAKE.secretKey}.`);
    expect(out).not.toContain(FAKE.secretKey);
    expect(out).toBe('key=*** again ***.');
  });

  it('replaces the JSON-escaped and URL-encoded forms', () => {
    const secret = 'abc"def\\ghi/jkl+mno=';
    registerSecret(secret);
    const json = JSON.stringify({ v: secret });
    expect(redact(json)).toBe('{"v":"***"}');
    expect(redact(`?t=${encodeURIComponent(secret)}&x=1`)).toBe('?t=***&x=1');
  });

  it('prefers the longest secret when one contains another', () => {
    registerSecret('abcdef');
    registerSecret('abcdefghij');
    expect(redact('x abcdefghij y')).toBe('x *** y');
  });

  it('ignores empty and very short values instead of mangling all output', () => {
    registerSecret('');
    registerSecret('ab');
    registerSecret(undefined);
    expect(redact('table label')).toBe('table label');
  });

  it('treats regex metacharacters in secrets literally', () => {
    registerSecret('a.b*c(d)');
    expect(redact('a.b*c(d) axbbbcd')).toBe('*** axbbbcd');
  });
});

describe('redact: patterns (secrets never registered)', () => {
  it('scrubs AWS access key ids', () => {
    expect(redact(`id ${FAKE.accessKeyId} and ${FAKE.tempAccessKeyId}`)).toBe('id *** and ***');
    // Inside a JSON-escaped stack trace the id follows a literal "\n".
    expect(redact(`"a\\n${FAKE.accessKeyId}\\n"`)).toBe('"a\\n***\\n"');
  });

  it('scrubs presigned URL parameters but keeps the rest of the URL', () => {
    const out = redact(FAKE.presignedUrl);
    expect(out).not.toContain(FAKE.signature);
    expect(out).not.toContain(FAKE.sessionToken);
    expect(out).not.toContain(FAKE.tempAccessKeyId);
    expect(out).toContain('X-Amz-Signature=***');
    expect(out).toContain('X-Amz-Credential=***');
    expect(out).toContain('X-Amz-Security-Token=***');
    expect(out).toContain('X-Amz-Expires=900');
    expect(out).toContain('https://bucket.s3.amazonaws.com/backups/app.db');
  });

  it('scrubs SigV4 Authorization headers and token headers', () => {
    const header =
      `Authorization: AWS4-HMAC-SHA256 Credential=${FAKE.accessKeyId}/20250101/us-east-1/s3/aws4_request, ` +
      `SignedHeaders=host;x-amz-date, Signature=${FAKE.signature}`;
    const out = redact(`${header}\nnext line`);
    expect(out).toBe('Authorization: AWS4-HMAC-SHA256 ***\nnext line');
    expect(redact(`x-amz-security-token: ${FAKE.sessionToken}`)).toBe('x-amz-security-token: ***');
    expect(redact('"authorization":"Bearer abc.def.ghi"')).toBe('"authorization":"Bearer ***"');
  });

  it('scrubs credential assignments in ini, env and JSON shapes', () => {
    expect(redact(`aws_secret_access_key = ${FAKE.secretKey}`)).toBe('aws_secret_access_key = ***');
    expect(redact(`AWS_SESSION_TOKEN=${FAKE.sessionToken} next`)).toBe('AWS_SESSION_TOKEN=*** next');
    expect(redact(`{"secretAccessKey":"${FAKE.secretKey}","region":"auto"}`)).toBe('{"secretAccessKey":"***","region":"auto"}');
  });

  it('scrubs userinfo in URLs', () => {
    expect(redact('fetching https://user:p%40ss@minio.local:9000/bucket')).toBe('fetching https://***@minio.local:9000/bucket');
    expect(redact(`s3://${FAKE.accessKeyId}@bucket/x`)).toBe('s3://***@bucket/x');
    expect(redact('https://example.com/a@b')).toBe('https://example.com/a@b');
  });

  it('stays linear on long pathological input', () => {
    // A quadratic pattern would take minutes on these; 2 s is a bound no healthy run comes near.
    const started = Date.now();
    redact('a.'.repeat(500_000));
    redact('A'.repeat(1_000_000));
    redact(`Authorization${' '.repeat(200_000)}`);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('leaves ordinary text alone', () => {
    const line = 'restored app.db (12 MiB) from gen/0001/snap/000042.db.gz in 1.2s; email a@b.c';
    expect(redact(line)).toBe(line);
  });
});

describe('maskSecret', () => {
  it('shows an access key id prefix and last 4 chars only', () => {
    expect(maskSecret(FAKE.accessKeyId)).toBe('AKIA…MPLE');
  });

  it('shows at most the last 4 chars of other long secrets', () => {
    const masked = maskSecret(FAKE.secretKey);
    expect(masked).toBe('***…EKEY');
    expect(masked).not.toContain(FAKE.secretKey.slice(0, 5));
  });

  it('hides short values entirely', () => {
    expect(maskSecret('hunter2')).toBe('***');
    expect(maskSecret('')).toBe('(not set)');
    expect(maskSecret(undefined)).toBe('(not set)');
  });
});
