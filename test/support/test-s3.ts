import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import type { AgeCliStatus } from './ensure-age-installed.js';
import { S3Store, type S3StoreOptions } from '../../src/store/s3-store.js';
import { createRawS3Client } from './s3-server/raw-s3-client.js';

/** How tests reach the S3 server started (or named) by test/global-setup.ts. */
export interface TestS3Config {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: TestS3Config;
    ageCli: AgeCliStatus;
  }
}

/** The connection to the test S3 server (from globalSetup). */
export function testS3(): TestS3Config {
  const config = inject('s3') as TestS3Config | undefined;
  if (config === undefined) {
    throw new Error(
      'no test S3 server in this vitest project: the S3 server is started for the "integration" project only; a test file that needs it must import test/support/test-s3.ts (directly or through a helper), which test/test-projects.ts follows',
    );
  }
  return config;
}

/** An S3 client on the test server with the settings S3-compatible servers need, for inspecting buckets directly. */
export function rawS3Client(): S3Client {
  return createRawS3Client(testS3());
}

/** An S3Store on `bucket` of the test server (path-style, the server's keys), under `app/` unless `options` say otherwise. */
export function testS3Store(bucket: string, options: Partial<S3StoreOptions> = {}): S3Store {
  const s3 = testS3();
  return new S3Store({
    bucket,
    prefix: 'app/',
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    ...options,
  });
}

/** Creates a new, empty bucket with a unique valid name that starts with `label`, and returns its name. */
export async function createTestBucket(label: string): Promise<string> {
  const name = uniqueBucketName(label);
  const client = rawS3Client();
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
  return name;
}

/** `pd-<label>-<time>-<random>`: lower-case letters, digits and hyphens, 3-63 characters, unique per call. */
export function uniqueBucketName(label: string): string {
  const suffix = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const cleanLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 63 - 'pd-'.length - suffix.length - 2)
    .replace(/-$/, '');
  return cleanLabel === '' ? `pd-${suffix}` : `pd-${cleanLabel}-${suffix}`;
}
