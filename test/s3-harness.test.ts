import { ListObjectsV2Command, PutObjectCommand, type S3Client, type S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRawS3Client } from './support/s3-server/raw-s3-client.js';
import { createTestBucket, rawS3Client, testS3 } from './support/test-s3.js';

/** The status code of a rejected S3 call, or a failure if the call succeeded. */
async function statusOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
  } catch (err) {
    return (err as S3ServiceException).$metadata?.httpStatusCode;
  }
  throw new Error('expected the request to be rejected, but it succeeded');
}

// These prove the test server is a real S3 (auth, conditional writes, pagination): the fakes tried before were not.
describe('test S3 server', () => {
  let client: S3Client;
  let bucket: string;

  beforeAll(async () => {
    client = rawS3Client();
    bucket = await createTestBucket('s3-harness');
  });
  afterAll(() => client.destroy());

  it('rejects a request signed with the wrong secret key with 403', async () => {
    const wrong = createRawS3Client(testS3(), { secretAccessKey: 'not-the-secret-key-0000000000000000000000' });
    try {
      expect(await statusOf(wrong.send(new ListObjectsV2Command({ Bucket: bucket })))).toBe(403);
    } finally {
      wrong.destroy();
    }
  });

  it('answers 412 to PutObject with If-None-Match: * on an existing key', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'exists', Body: 'first', IfNoneMatch: '*' }));
    expect(await statusOf(client.send(new PutObjectCommand({ Bucket: bucket, Key: 'exists', Body: 'second', IfNoneMatch: '*' })))).toBe(
      412,
    );
  });

  it('paginates a listing of more than 1000 keys', async () => {
    const keys = Array.from({ length: 1100 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
    let next = 0;
    const putAll = async (): Promise<void> => {
      while (next < keys.length) {
        const key = keys[next++]!;
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
      }
    };
    await Promise.all(Array.from({ length: 16 }, putAll));

    const first = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'many/' }));
    expect(first.IsTruncated).toBe(true);
    expect(first.KeyCount).toBe(1000);
    const second = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'many/', ContinuationToken: first.NextContinuationToken }),
    );
    expect(second.IsTruncated).toBe(false);
    const listed = [...(first.Contents ?? []), ...(second.Contents ?? [])].map((object) => object.Key);
    expect(listed).toEqual(keys);
  });
});
