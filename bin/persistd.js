#!/usr/bin/env node
// Entry point of the persistd command: runs the CLI and exits with its code.
import { runCli } from '../dist/cli/run-cli.js';

runCli();
