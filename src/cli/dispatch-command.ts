import type { CommandContext } from '../commands/command-context.js';
import { backupCommand } from '../commands/backup.js';
import { doctorCommand } from '../commands/doctor.js';
import { restoreCommand } from '../commands/restore.js';
import { snapshotsCommand } from '../commands/snapshots.js';
import { statusCommand } from '../commands/status.js';
import { verifyCommand } from '../commands/verify.js';
import { runCommand } from '../commands/run.js';
import { usageError } from '../errors.js';
import type { CommandInvocation } from './program.js';

type CommandHandler = (ctx: CommandContext, invocation: CommandInvocation) => Promise<number>;

const HANDLERS: Partial<Record<CommandInvocation['name'], CommandHandler>> = {
  backup: backupCommand,
  doctor: doctorCommand,
  restore: restoreCommand,
  snapshots: snapshotsCommand,
  status: statusCommand,
  verify: verifyCommand,
  run: runCommand,
};

/** Runs the handler of the invoked command; commands not built yet fail with a usage error (exit 2). */
export async function dispatchCommand(invocation: CommandInvocation, ctx: CommandContext): Promise<number> {
  const handler = HANDLERS[invocation.name];
  if (!handler) throw usageError(`persistd ${invocation.name} is not yet implemented in this version`, 'see persistd --help for the commands that are');
  return handler(ctx, invocation);
}
