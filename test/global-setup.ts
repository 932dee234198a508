import type { TestProject } from 'vitest/node';
import { ensureAgeInstalled } from './support/ensure-age-installed.js';
import { startRgw, type RunningRgw } from './support/s3-server/rgw.js';
import { warmUpS3 } from './support/s3-server/warm-up.js';
import type { TestS3Config } from './support/test-s3.js';

/**
 * vitest globalSetup: provides one real S3 server to every test file as `inject('s3')`.
 * PERSISTD_TEST_S3_ENDPOINT (+ _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION) names an existing server;
 * otherwise a throwaway single-node Ceph RGW is started here and stopped in teardown.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Same as `test.env` in vitest.config.ts, for the SDK clients this setup itself makes.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const log = (line: string): void => {
    process.stderr.write(`[test-s3] ${line}\n`);
  };
  let rgw: RunningRgw | undefined;
  let config: TestS3Config;
  const endpoint = process.env.PERSISTD_TEST_S3_ENDPOINT;
  if (endpoint !== undefined && endpoint !== '') {
    const accessKeyId = process.env.PERSISTD_TEST_S3_ACCESS_KEY_ID;
    const secretAccessKey = process.env.PERSISTD_TEST_S3_SECRET_ACCESS_KEY;
    if (accessKeyId === undefined || accessKeyId === '' || secretAccessKey === undefined || secretAccessKey === '') {
      throw new Error(
        'PERSISTD_TEST_S3_ENDPOINT is set but PERSISTD_TEST_S3_ACCESS_KEY_ID or PERSISTD_TEST_S3_SECRET_ACCESS_KEY is not; set both, or unset the endpoint to start a local Ceph RGW',
      );
    }
    config = { endpoint, region: process.env.PERSISTD_TEST_S3_REGION || 'us-east-1', accessKeyId, secretAccessKey };
    log(`using the S3 server at ${endpoint} (PERSISTD_TEST_S3_ENDPOINT)`);
  } else {
    log('starting a single-node Ceph RGW (set PERSISTD_TEST_S3_ENDPOINT to use another server)');
    rgw = await startRgw({ log });
    config = { endpoint: rgw.endpoint, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };
  }
  try {
    const ms = await warmUpS3(config);
    log(`warmed up in ${(ms / 1000).toFixed(1)} s`);
  } catch (err) {
    await rgw?.stop();
    throw err;
  }
  project.provide('s3', config);
  // The age interoperability tests need the real age CLI; when it cannot be installed they are skipped, saying why.
  const ageCli = await ensureAgeInstalled(log);
  if (!ageCli.available) log(`the age interoperability tests will be SKIPPED: ${ageCli.reason}`);
  project.provide('ageCli', ageCli);
  return async () => {
    await rgw?.stop();
  };
}
