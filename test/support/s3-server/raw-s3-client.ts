import { S3Client } from '@aws-sdk/client-s3';
import type { TestS3Config } from '../test-s3.js';

/**
 * An S3 client for a test server: path-style addressing, and checksums only where the protocol requires
 * them (the SDK's default CRC32 trailers are what S3-compatible servers reject or mangle).
 */
export function createRawS3Client(config: TestS3Config, overrides: { secretAccessKey?: string } = {}): S3Client {
  return new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: overrides.secretAccessKey ?? config.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
