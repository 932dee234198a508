import type { CommandContext } from '../commands/command-context.js';
import { doctorCommand } from '../commands/doctor.js';
import { runCommand } from '../commands/run.js';
import { usageError } from '../errors.js';
import type { CommandInvocation } from './program.js';

type CommandHandler = (ctx: CommandContext, invocation: CommandInvocation) => Promise<number>;

const HANDLERS: Partial<Record<CommandInvocation['name'], CommandHandler>> = {
  doctor: doctorCommand,
  run: runCommand,
};

/** Runs the handler of the invoked command; commands not built yet fail with a usage error (exit 2). */
export async function dispatchCommand(invocation: CommandInvocation, ctx: CommandContext): Promise<number> {
  const handler = HANDLERS[invocation.name];
  if (!handler) throw usageError(`persistd ${invocation.name} is not yet implemented in this version`, 'see persistd --help for the commands that are');
  return handler(ctx, invocation);
}
