import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One S3 server (Ceph RGW, or PERSISTD_TEST_S3_ENDPOINT) for the whole run; each test file makes its own buckets.
    globalSetup: ['test/global-setup.ts'],
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
