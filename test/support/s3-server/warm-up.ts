import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { TestS3Config } from '../test-s3.js';
import { createRawS3Client } from './raw-s3-client.js';
import { messageOf } from '../../../src/errors.js';

/**
 * Creates a bucket, writes and deletes one object, deletes the bucket: the server's first CreateBucket and
 * first PUT create its pools, which is slow once; paying it here keeps it out of every test's timeout.
 * Also proves the credentials work. Returns how long it took, in ms.
 */
export async function warmUpS3(config: TestS3Config): Promise<number> {
  const started = Date.now();
  const client = createRawS3Client(config);
  const bucket = `pd-warm-up-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm-up', Body: 'warm-up' }));
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'warm-up' }));
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = err instanceof Error ? err.name : 'Error';
    const message = messageOf(err);
    throw new Error(`the test S3 server at ${config.endpoint} did not accept a create-bucket/put/delete round trip: ${name}: ${message}`, {
      cause: err,
    });
  } finally {
    client.destroy();
  }
  return Date.now() - started;
}
