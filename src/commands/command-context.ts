import type { Config } from '../config/config.js';
import type { SignalSource } from '../engine/forward-signals.js';
import type { Logger } from '../log/logger.js';

/** What every command gets: the resolved config, a logger, where to print, and a signal that fires on SIGINT/SIGTERM. */
export interface CommandContext {
  config: Config;
  logger: Logger;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal: AbortSignal;
  /** Where OS signals come from (the process; an EventEmitter in tests). */
  signals: SignalSource;
}

/** Prints one line to the context's stdout. */
export function println(ctx: Pick<CommandContext, 'stdout'>, line = ''): void {
  ctx.stdout.write(`${line}\n`);
}
