import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey } from '@aws-sdk/client-s3';
import { createTestBucket, rawS3Client, testS3 } from '../../support/test-s3.js';

/** Where a scenario's container keeps its backups, with read access for the assertions. */
export interface ScenarioReplica {
  /** `file://...` or `s3://...`, for test names and messages. */
  readonly url: string;
  /** persistd flags that select this replica. */
  readonly args: readonly string[];
  /** Environment persistd needs for it (credentials). */
  readonly env: Readonly<Record<string, string>>;
  /** Every object key under the replica's root (persistd's own bookkeeping excluded), sorted. */
  keys(prefix?: string): Promise<string[]>;
  /** An object's bytes, or undefined when it does not exist. */
  get(key: string): Promise<Buffer | undefined>;
}

/** A replica in a local directory (the file:// backend). */
export function fileReplica(root: string): ScenarioReplica {
  const url = `file://${root}`;
  return {
    url,
    args: ['--to', url],
    env: {},
    async keys(prefix = '') {
      const found: string[] = [];
      const walk = (dir: string, rel: string): void => {
        let entries;
        try {
          entries = readdirSync(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const entry of entries) {
          const key = rel === '' ? entry.name : `${rel}/${entry.name}`;
          if (rel === '' && (entry.name === '.persistd-meta' || entry.name === '.persistd-lock')) continue;
          if (entry.isDirectory()) walk(path.join(dir, entry.name), key);
          else if (key.startsWith(prefix)) found.push(key);
        }
      };
      walk(root, '');
      return found.sort();
    },
    async get(key) {
      try {
        return readFileSync(path.join(root, ...key.split('/')));
      } catch {
        return undefined;
      }
    },
  };
}

/** A replica in a new bucket of the real test S3 server (Ceph RGW), under the prefix `app`. */
export async function s3Replica(label: string): Promise<ScenarioReplica> {
  const s3 = testS3();
  const bucket = await createTestBucket(label);
  const prefix = 'app/';
  const url = `s3://${bucket}/app`;
  const withClient = async <T>(work: (client: ReturnType<typeof rawS3Client>) => Promise<T>): Promise<T> => {
    const client = rawS3Client();
    try {
      return await work(client);
    } finally {
      client.destroy();
    }
  };
  return {
    url,
    args: ['--to', url, '--endpoint', s3.endpoint, '--region', s3.region],
    env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
    keys: (keyPrefix = '') =>
      withClient(async (client) => {
        const keys: string[] = [];
        let token: string | undefined;
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix + keyPrefix, ContinuationToken: token }),
          );
          for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key.slice(prefix.length));
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return keys.sort();
      }),
    get: (key) =>
      withClient(async (client) => {
        try {
          const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + key }));
          return Buffer.from(await response.Body!.transformToByteArray());
        } catch (err) {
          if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return undefined;
          throw err;
        }
      }),
  };
}
