import type { CommandContext } from '../commands/command-context.js';
import { usageError } from '../errors.js';
import type { CommandInvocation } from '../commands/command-invocation.js';

type CommandHandler = (ctx: CommandContext, invocation: CommandInvocation) => Promise<number>;

/**
 * Each command's module, loaded only when that command runs: `persistd version` and `--help` never load
 * the AWS SDK, better-sqlite3 or the file watcher.
 */
const HANDLERS: Partial<Record<CommandInvocation['name'], () => Promise<CommandHandler>>> = {
  backup: async () => (await import('../commands/backup.js')).backupCommand,
  doctor: async () => (await import('../commands/doctor.js')).doctorCommand,
  restore: async () => (await import('../commands/restore.js')).restoreCommand,
  snapshots: async () => (await import('../commands/snapshots.js')).snapshotsCommand,
  status: async () => (await import('../commands/status.js')).statusCommand,
  verify: async () => (await import('../commands/verify.js')).verifyCommand,
  run: async () => (await import('../commands/run.js')).runCommand,
};

/** Runs the handler of the invoked command; commands not built yet fail with a usage error (exit 2). */
export async function dispatchCommand(invocation: CommandInvocation, ctx: CommandContext): Promise<number> {
  const load = HANDLERS[invocation.name];
  if (!load)
    throw usageError(`persistd ${invocation.name} is not yet implemented in this version`, 'see persistd --help for the commands that are');
  return (await load())(ctx, invocation);
}
