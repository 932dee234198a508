/**
 * The S3 server a benchmark runs against: a throwaway single-node Ceph RGW (as the tests use), or the
 * server named by PERSISTD_TEST_S3_ENDPOINT / _ACCESS_KEY_ID / _SECRET_ACCESS_KEY / _REGION.
 */
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../src/store/s3-store.js';
import { createRawS3Client } from '../../test/support/s3-server/raw-s3-client.js';
import { startRgw, type RunningRgw } from '../../test/support/s3-server/rgw.js';

/** A running benchmark server with one bucket created. */
export interface BenchS3 {
  endpoint: string;
  region: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** An S3 client with the settings S3-compatible servers need (path style, checksums only when required). */
  client: S3Client;
  /** A persistd store on `bucket` under `prefix` (e.g. `persistd/`). */
  store(prefix: string): S3Store;
  /** Destroys the client and stops the server (when this run started it). */
  stop(): Promise<void>;
}

/** Options of `startBenchS3`. */
export interface StartBenchS3Options {
  bucket: string;
  /** RAM the test server's OSD may use for objects (it does not shrink on delete). */
  memstoreBytes?: number;
  log?: (line: string) => void;
}

/** Starts (or connects to) the benchmark's S3 server and creates `bucket` on it. */
export async function startBenchS3(options: StartBenchS3Options): Promise<BenchS3> {
  const log = options.log ?? ((line: string): void => void process.stderr.write(`[rgw] ${line}\n`));
  let rgw: RunningRgw | undefined;
  let server: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  const external = process.env['PERSISTD_TEST_S3_ENDPOINT'];
  if (external) {
    server = {
      endpoint: external,
      region: process.env['PERSISTD_TEST_S3_REGION'] ?? 'us-east-1',
      accessKeyId: process.env['PERSISTD_TEST_S3_ACCESS_KEY_ID'] ?? '',
      secretAccessKey: process.env['PERSISTD_TEST_S3_SECRET_ACCESS_KEY'] ?? '',
    };
  } else {
    rgw = await startRgw({ log, ...(options.memstoreBytes !== undefined ? { memstoreBytes: options.memstoreBytes } : {}) });
    server = rgw;
  }
  const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
  const client = createRawS3Client(server);
  try {
    await client.send(new CreateBucketCommand({ Bucket: options.bucket }));
  } catch (err) {
    client.destroy();
    await rgw?.stop();
    throw err;
  }
  const stores: S3Store[] = [];
  return {
    endpoint: server.endpoint,
    region: server.region,
    bucket: options.bucket,
    credentials,
    client,
    store(prefix) {
      const store = new S3Store({
        bucket: options.bucket,
        prefix,
        endpoint: server.endpoint,
        region: server.region,
        forcePathStyle: true,
        credentials,
      });
      stores.push(store);
      return store;
    },
    async stop() {
      for (const store of stores) store.destroy();
      client.destroy();
      await rgw?.stop();
    },
  };
}
