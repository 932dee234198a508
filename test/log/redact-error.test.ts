import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PersistdError } from '../../src/errors.js';
import { redactError, redactedMessage } from '../../src/log/redact-error.js';
import { clearRegisteredSecrets, registerSecret } from '../../src/log/redact.js';
import { PermanentStoreError } from '../../src/store/store-errors.js';
import { FAKE } from './fake-secrets.js';

beforeEach(() => registerSecret(FAKE.secretKey));
afterEach(() => clearRegisteredSecrets());

/** What a CLI prints for an error: message, hint, the cause chain, and the stack at debug level. */
function printLikeTheCli(err: Error): string {
  const lines = [`persistd: ${err.message}`];
  if (err instanceof PersistdError && err.hint !== undefined) lines.push(`hint: ${err.hint}`);
  let cause: unknown = err.cause;
  while (cause instanceof Error) {
    lines.push(`cause: ${cause.message}`);
    cause = cause.cause;
  }
  lines.push(err.stack ?? '');
  return lines.join('\n');
}

describe('redactError', () => {
  it('keeps the class, kind and fields while redacting every string', () => {
    const sdkLike = Object.assign(new Error(`SignatureDoesNotMatch for ${FAKE.presignedUrl}`), {
      $metadata: { httpStatusCode: 403, requestId: 'REQ1', extendedRequestId: FAKE.secretKey },
      $response: new (class HttpResponse {
        headers = { authorization: `AWS4-HMAC-SHA256 Credential=${FAKE.accessKeyId}/x` };
      })(),
    });
    const err = new PermanentStoreError(`access denied for ${FAKE.accessKeyId}`, {
      op: 'put',
      path: `https://${FAKE.accessKeyId}:${FAKE.secretKey}@r2.example.com/bucket/key`,
      hint: `check aws_secret_access_key=${FAKE.secretKey}`,
      status: 403,
      cause: sdkLike,
    });

    const safe = redactError(err);
    expect(safe).not.toBe(err);
    expect(safe).toBeInstanceOf(PermanentStoreError);
    expect(safe).toBeInstanceOf(PersistdError);
    const typed = safe as PermanentStoreError;
    expect(typed.kind).toBe('storage');
    expect(typed.op).toBe('put');
    expect(typed.status).toBe(403);
    expect(typed.transient).toBe(false);
    expect(typed.path).toBe('https://***@r2.example.com/bucket/key');
    expect(typed.message).toBe('access denied for ***');
    expect((typed.cause as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(403);

    for (const text of [printLikeTheCli(safe), inspect(safe, { depth: 10 }), JSON.stringify(safe)]) {
      for (const secret of [FAKE.accessKeyId, FAKE.secretKey, FAKE.signature, FAKE.sessionToken]) {
        expect(text).not.toContain(secret);
      }
      expect(text).toContain('***');
    }
    // The original is untouched: redaction is for printing, the error keeps its data for the code.
    expect(err.message).toContain(FAKE.accessKeyId);
  });

  it('survives cause cycles and deep nesting', () => {
    const a = new Error(`a ${FAKE.secretKey}`);
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    const safe = redactError(b);
    expect(printLikeTheCli(safe)).not.toContain(FAKE.secretKey);
  });

  it('turns thrown non-errors into redacted errors', () => {
    expect(redactError(`failed: ${FAKE.secretKey}`).message).toBe('failed: ***');
    expect(redactError(42).message).toBe('42');
    expect(redactedMessage(new Error(`x ${FAKE.accessKeyId}`))).toBe('x ***');
    expect(redactedMessage(undefined)).toBe('undefined');
  });
});
