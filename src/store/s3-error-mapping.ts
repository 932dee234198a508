import { NotFoundError, PermanentStoreError, PreconditionFailedError, StoreError, TransientStoreError } from './store-errors.js';

/** Where an S3 request went, for the message and hint of the error it raised. */
export interface S3ErrorContext {
  /** The store operation, e.g. `put`, `list`. */
  op: string;
  bucket: string;
  /** The store's key prefix in the bucket. */
  prefix: string;
  /** The key relative to the prefix, when the request was about one object (or a list prefix). */
  key?: string;
  /** The endpoint, already stripped of anything secret (see `printableEndpoint`). */
  endpoint: string;
}

/** System error codes of a connection that failed or broke: the server may be back in a moment. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
/** S3 error codes that say "try again". */
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestLimitExceeded',
]);
/** S3 error codes that mean the credentials are wrong or not allowed to do this. */
const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'InvalidSecurity',
]);

interface SdkErrorShape {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Turns anything the S3 client threw into the matching StoreError. The SDK error is deliberately
 * not kept as `cause`: S3 puts the access key id, the string-to-sign and the canonical request on
 * signature errors, and a cause may end up printed. Abort errors are returned unchanged.
 */
export function mapS3Error(err: unknown, context: S3ErrorContext): Error {
  if (err instanceof StoreError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SdkErrorShape;
  if (e.name === 'AbortError') return err as Error;
  const status = e.$metadata?.httpStatusCode;
  const code = e.Code ?? (e.name !== undefined && e.name !== 'Error' && e.name !== 'S3ServiceException' ? e.name : undefined) ?? e.code;
  const target = `s3://${context.bucket}/${context.prefix}${context.key ?? ''}`;
  const what = `${context.op} ${target} failed`;
  const options = { op: context.op, path: context.key ?? target, status };
  const why = `${code ?? 'error'}${status === undefined ? '' : ` (HTTP ${status})`}`;

  if (code === 'CredentialsProviderError') {
    return new PermanentStoreError(`${what}: no credentials found`, {
      ...options,
      hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or R2_* / GCS_HMAC_* for those providers), or give the container an IAM role',
    });
  }
  if (e.name === 'TypeError' || e.name === 'RangeError') {
    return new StoreError(`${what}: ${e.name}: ${e.message ?? ''}`, false, {
      ...options,
      kind: 'internal',
      hint: 'this looks like a bug in persistd; run with --log-level debug and report it',
    });
  }
  if (code === 'NoSuchBucket') {
    return new PermanentStoreError(`${context.op} failed: the bucket "${context.bucket}" does not exist at ${context.endpoint}`, {
      ...options,
      hint: `create the bucket "${context.bucket}", or fix the bucket name / endpoint in the replica URL`,
    });
  }
  if (code === 'NoSuchKey' || code === 'NotFound' || (status === 404 && code !== 'NoSuchUpload')) {
    return new NotFoundError(context.key ?? target, { op: context.op });
  }
  if (status === 412 || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict') {
    return new PreconditionFailedError(context.key ?? target, { op: context.op });
  }
  if (status === 403 || (code !== undefined && AUTH_CODES.has(code))) {
    return new PermanentStoreError(`${what}: access denied: ${why}`, {
      ...options,
      hint: 'check the access key id and secret (and session token) persistd uses, and that they may read, write, list and delete in this bucket',
    });
  }
  const network = e.code !== undefined && NETWORK_CODES.has(e.code);
  const timeout = e.name === 'TimeoutError' || /timed? ?out/i.test(e.message ?? '');
  const hangUp = /socket hang up|other side closed|premature close/i.test(e.message ?? '');
  if (network || timeout || hangUp) {
    const reason = network ? e.code! : timeout ? 'the request timed out' : 'the connection was closed';
    return new TransientStoreError(`${what}: ${reason}`, {
      ...options,
      hint: `check that the S3 endpoint ${context.endpoint} is reachable and answering; persistd retries such errors`,
    });
  }
  if ((status !== undefined && (status >= 500 || status === 429)) || (code !== undefined && TRANSIENT_CODES.has(code))) {
    return new TransientStoreError(`${what}: ${why}`, {
      ...options,
      hint: `the S3 service at ${context.endpoint} is failing or throttling; persistd retries such errors`,
    });
  }
  if (code === 'NotImplemented' || status === 501) {
    return new PermanentStoreError(`${what}: the server does not implement this request: ${why}`, { ...options, status: status ?? 501 });
  }
  const serverSays = safeServerMessage(e.message);
  return new PermanentStoreError(`${what}: ${why}${serverSays === '' ? '' : `: ${serverSays}`}`, options);
}

/** The server's own words, when they cannot carry anything secret (no query strings, no signing material). */
function safeServerMessage(message: string | undefined): string {
  if (message === undefined || message === 'UnknownError') return '';
  if (/signature|credential|x-amz-|access ?key|token|https?:\/\//i.test(message)) return '';
  return message.slice(0, 200);
}
