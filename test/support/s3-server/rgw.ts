import { tmpdir } from 'node:os';
import { startCephCluster } from './ceph-cluster.js';
import { ensureCephInstalled } from './ensure-ceph-installed.js';
import { cleanUpStaleServers } from './pid-registry.js';
import { messageOf } from '../../../src/errors.js';

/** Options of startRgw. */
export interface StartRgwOptions {
  /** Parent of the server's temp directory (default: the OS temp dir). */
  baseDir?: string;
  /** RAM the OSD may use for objects (memstore); it does not shrink on delete. Default 4 GiB. */
  memstoreBytes?: number;
  /** Receives progress lines (never secrets). Default: silent. */
  log?: (line: string) => void;
}

/** A running single-node Ceph RADOS Gateway: a real S3 endpoint with SigV4, multipart and conditional writes. */
export interface RunningRgw {
  endpoint: string;
  region: 'us-east-1';
  accessKeyId: string;
  secretAccessKey: string;
  /** Kills the daemons (SIGKILL) and deletes all server state. */
  stop(): Promise<void>;
}

const START_DEADLINE_MS = 90_000;
/** A second attempt (fresh dir, fresh ports) only when at least this much of the deadline is left. */
const RETRY_MIN_REMAINING_MS = 35_000;
const DEFAULT_MEMSTORE_BYTES = 4 * 1024 ** 3;

/**
 * Starts a throwaway S3 server (Ceph mon + OSD on memstore + RGW) bound to 127.0.0.1 with random keys.
 * Installs Ceph first when possible, and cleans up daemons left behind by an earlier, killed run.
 * Takes about 13-15 s on 2 cores; gives up with the tail of the Ceph log after about 90 s.
 */
export async function startRgw(options: StartRgwOptions = {}): Promise<RunningRgw> {
  const log = options.log ?? ((): void => {});
  // Installing takes a while: say so even when the caller wants silence.
  await ensureCephInstalled(options.log ?? ((line) => process.stderr.write(`${line}\n`)));
  cleanUpStaleServers(log);
  const started = Date.now();
  const deadline = started + START_DEADLINE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const cluster = await startCephCluster({
        baseDir: options.baseDir ?? tmpdir(),
        memstoreBytes: options.memstoreBytes ?? DEFAULT_MEMSTORE_BYTES,
        deadline,
        log,
      });
      log(`test S3 server (Ceph RGW) ready at ${cluster.endpoint} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return { ...cluster, region: 'us-east-1' };
    } catch (err) {
      const message = messageOf(err);
      if (attempt >= 2 || deadline - Date.now() < RETRY_MIN_REMAINING_MS) {
        throw new Error(
          `starting the test S3 server (Ceph RGW) failed: ${message}\n` +
            'hint: to use another S3-compatible server instead, set PERSISTD_TEST_S3_ENDPOINT, PERSISTD_TEST_S3_ACCESS_KEY_ID and PERSISTD_TEST_S3_SECRET_ACCESS_KEY',
          { cause: err },
        );
      }
      log(`starting the test S3 server failed, trying once more: ${message.split('\n')[0] ?? ''}`);
    }
  }
}
