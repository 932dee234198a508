import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { DEFAULTS } from '../config/defaults.js';
import { s3Sdk } from './s3-sdk.js';

/** Connection settings of an S3 client. */
export interface S3ClientSettings {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  credentials?: S3ClientConfig['credentials'];
  /** Longest a socket may stay silent (connecting, sending or receiving) before the request fails; default 30 s. */
  requestTimeoutMs?: number;
  /** Sockets kept per host; default 50. */
  maxSockets?: number;
}

/** Connecting to a live server takes milliseconds; a black-holed one should fail well before the request timeout. */
const MAX_CONNECT_TIMEOUT_MS = 5_000;

/**
 * An S3Client with the defaults S3-compatible services need: checksums only where an operation
 * requires them (the default CRC32 and `aws-chunked` trailers break R2, B2, GCS and older MinIO/Ceph),
 * no SDK retries (RetryingStore decides), and timeouts so a hanging server cannot hang persistd.
 * The socket timeout is an inactivity timeout, so a slow but moving transfer is not cut off.
 */
export function createS3Client(settings: S3ClientSettings): S3Client {
  const timeoutMs = settings.requestTimeoutMs ?? DEFAULTS.requestTimeout;
  const agent = { keepAlive: true, maxSockets: settings.maxSockets ?? 50 };
  const { S3Client } = s3Sdk();
  return new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    credentials: settings.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: Math.min(MAX_CONNECT_TIMEOUT_MS, timeoutMs),
      socketTimeout: timeoutMs,
      httpAgent: agent,
      httpsAgent: agent,
    },
  });
}
