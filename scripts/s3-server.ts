/**
 * Starts the throwaway S3 server the tests use (single-node Ceph RGW) and keeps it up until SIGINT/SIGTERM.
 * Prints its connection as env lines on stdout, so `npx tsx scripts/s3-server.ts > s3.env` then
 * `set -a; . ./s3.env; set +a; npx vitest run` points the test suite (or a benchmark) at it.
 */
import { startRgw } from '../test/support/s3-server/rgw.js';
import { warmUpS3 } from '../test/support/s3-server/warm-up.js';
import { messageOf } from '../src/errors.js';

const log = (line: string): void => {
  process.stderr.write(`[s3-server] ${line}\n`);
};

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const memstoreGiB = Number(process.env.PERSISTD_TEST_S3_MEMSTORE_GIB ?? '4');
  const rgw = await startRgw({ log, memstoreBytes: Math.round(memstoreGiB * 1024 ** 3) });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    void rgw.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log(`stopping failed: ${messageOf(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await warmUpS3({ endpoint: rgw.endpoint, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey });
  process.stdout.write(
    [
      `PERSISTD_TEST_S3_ENDPOINT=${rgw.endpoint}`,
      `PERSISTD_TEST_S3_REGION=${rgw.region}`,
      `PERSISTD_TEST_S3_ACCESS_KEY_ID=${rgw.accessKeyId}`,
      `PERSISTD_TEST_S3_SECRET_ACCESS_KEY=${rgw.secretAccessKey}`,
      '',
    ].join('\n'),
  );
  log('ready; press Ctrl+C to stop (all data is deleted)');
}

main().catch((err: unknown) => {
  log(messageOf(err));
  process.exit(1);
});
