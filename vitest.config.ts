import { defineConfig } from 'vitest/config';
import { classifyTestFiles } from './test/test-projects.js';

// Two projects (test/test-projects.ts says which file goes where and why): "unit" needs only Node and the
// source tree; "integration" needs the S3 server of test/global-setup.ts, the age CLI or the built CLI.
// `vitest run` runs both; `vitest run --project unit` (npm run test:unit) starts no S3 server.
const { unit, integration } = classifyTestFiles();

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: unit } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: integration,
          // One S3 server (Ceph RGW, or PERSISTD_TEST_S3_ENDPOINT) for the whole run; each test file makes its own buckets.
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
    pool: 'forks',
    // The machine has 2 cores; more workers only make every file slower.
    maxWorkers: 2,
    fileParallelism: true,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // The SDK warns once per process that it will drop Node 20 in 2027; in every test worker that is noise.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // Off unless asked for (`vitest run --coverage`, as .ci/run does): the summary of src/ covered by the
    // test workers. Commands the tests spawn as processes (bin/persistd.js) are not instrumented.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary'],
      reportsDirectory: 'coverage',
    },
  },
});
