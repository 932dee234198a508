#!/usr/bin/env node
// Entry point of the persistd command: runs the CLI and exits with its code.
// persistd supports Node 20.19+ until January 2027, 22 and 24. The AWS SDK's notice about its own Node 20 support
// would print on every start; `persistd doctor` and the README say until when Node 20 is supported instead.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Transfers run 16 at a time, each a handful of file-system calls (open, write, chmod, utimes, fsync, rename);
// libuv's default of 4 threads for them would queue a restore of many small files behind a few fsyncs.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { runCli } = await import('../dist/cli/run-cli.js');
runCli();
