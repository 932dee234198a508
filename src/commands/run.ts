import type { CommandInvocation } from '../cli/program.js';
import { AppSupervisor } from '../engine/app-supervisor.js';
import { forwardSignals } from '../engine/forward-signals.js';
import { usageError } from '../errors.js';
import type { CommandContext } from './command-context.js';
import { requireReplica, requireTargets } from './require-replica.js';

/** `persistd run -- <app>`: restore, start the app, replicate, and take a final backup when it stops. */
export async function runCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const [command, ...args] = invocation.args;
  if (!command) {
    throw usageError('run: no app command given', 'put the app command after --, e.g. persistd run --to s3://bucket/app --db ./app.db -- node server.js');
  }
  if (ctx.config.disabled) {
    ctx.logger.warn('PERSISTD_DISABLED is set: the app runs WITHOUT persistence; its data will be lost with this container');
    return superviseWithoutPersistence(ctx, command, args);
  }
  requireReplica(ctx.config);
  requireTargets(ctx.config, 'run');
  throw usageError('persistd run with replication is not yet implemented in this version', 'use persistd backup and persistd restore for now');
}

async function superviseWithoutPersistence(ctx: CommandContext, command: string, args: string[]): Promise<number> {
  const app = await AppSupervisor.start({ command, args, env: ctx.env, cwd: ctx.cwd });
  const stopForwarding = forwardSignals(ctx.signals, (signal) => app.forward(signal));
  try {
    const exit = await app.exited;
    return exit.exitCode;
  } finally {
    stopForwarding();
  }
}
