import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { createTestBucket, testS3, testS3Store } from './test-s3.js';

/** A replica as the CLI names it (`--to`, environment), and a store on the same place for the test to look and meddle. */
export interface CliReplica {
  url: string;
  env: NodeJS.ProcessEnv;
  store: ObjectStore;
}

/**
 * Makers of fresh replicas on the file:// backend and on the real S3 server, for `describe.each`; the
 * temp folders and S3 clients they make are released by `release()` (call it in afterAll).
 */
export function cliReplicaBackends(label: string): { backends: [string, () => Promise<CliReplica>][]; release: () => Promise<void> } {
  const made: string[] = [];
  const stores: S3Store[] = [];
  const backends: [string, () => Promise<CliReplica>][] = [
    [
      'file://',
      async () => {
        const dir = await mkdtemp(path.join(tmpdir(), `persistd-${label}-replica-`));
        made.push(dir);
        return { url: `file://${dir}`, env: {}, store: new FsStore(dir) };
      },
    ],
    [
      'S3 (Ceph RGW)',
      async () => {
        const s3 = testS3();
        const bucket = await createTestBucket(label);
        const store = testS3Store(bucket);
        stores.push(store);
        return {
          url: `s3://${bucket}/app`,
          store,
          env: {
            AWS_ACCESS_KEY_ID: s3.accessKeyId,
            AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
            AWS_REGION: s3.region,
            PERSISTD_S3_ENDPOINT: s3.endpoint,
          },
        };
      },
    ],
  ];
  const release = async (): Promise<void> => {
    for (const store of stores) store.destroy();
    await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
  };
  return { backends, release };
}
