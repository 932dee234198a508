#!/usr/bin/env node
// Entry point of the persistd command: runs the CLI and exits with its code.
// persistd supports Node >= 20.19; the AWS SDK's notice about its own Node 20 support is noise on every start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Transfers run 16 at a time, each a handful of file-system calls (open, write, chmod, utimes, fsync, rename);
// libuv's default of 4 threads for them would queue a restore of many small files behind a few fsyncs.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { runCli } = await import('../dist/cli/run-cli.js');
runCli();
