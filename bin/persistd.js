#!/usr/bin/env node
// Entry point of the persistd command: runs the CLI and exits with its code.
// persistd supports Node >= 20.19; the AWS SDK's notice about its own Node 20 support is noise on every start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { runCli } = await import('../dist/cli/run-cli.js');
runCli();
