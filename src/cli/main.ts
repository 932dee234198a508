import { CommanderError } from 'commander';
import type { CommandContext } from '../commands/command-context.js';
import type { CommandInvocation } from '../commands/command-invocation.js';
import { EXIT_CODES, exitCodeFor } from '../exit-codes.js';
import { formatError } from '../commands/format-error.js';
import { PERSISTD_VERSION } from '../version.js';
import { buildProgram } from './program.js';

/** The process-level things the CLI uses (what a command's context gets from the process), injectable so tests can run it in-process. */
export type CliIo = Pick<CommandContext, 'stdout' | 'stderr' | 'env' | 'cwd' | 'signal' | 'signals'>;

/** Runs the CLI on argv (as in process.argv) and resolves to the exit code; never throws. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT_CODES.ok;
  const program = buildProgram(
    async (invocation) => {
      exitCode = await execute(invocation, io);
    },
    { writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) },
  );
  if (argv.length <= 2) {
    io.stderr.write(program.helpInformation());
    return EXIT_CODES.usage;
  }
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version'
        ? EXIT_CODES.ok
        : EXIT_CODES.usage;
    }
    io.stderr.write(`${formatError(err)}\n`);
    return exitCodeFor(err);
  }
  return exitCode;
}

async function execute(invocation: CommandInvocation, io: CliIo): Promise<number> {
  if (invocation.name === 'version') {
    io.stdout.write(`persistd ${PERSISTD_VERSION} (node ${process.version})\n`);
    return EXIT_CODES.ok;
  }
  // Loaded here, not at the top: `version` and `--help` answer without the config, logging and command modules.
  const [{ resolveConfig }, { createLogger }, { dispatchCommand }] = await Promise.all([
    import('../config/resolve-config.js'),
    import('../log/logger.js'),
    import('./dispatch-command.js'),
  ]);
  let ctx: CommandContext;
  try {
    const config = resolveConfig({
      flags: invocation.settings,
      configPath: invocation.configPath,
      env: io.env,
      cwd: io.cwd,
      skipTargetChecks: invocation.name !== 'run' && invocation.name !== 'backup' && invocation.name !== 'doctor',
      createParents: invocation.name === 'run',
    });
    const logger = createLogger({ level: config.logLevel, pretty: 'auto', destination: io.stderr });
    ctx = { config, logger, stdout: io.stdout, stderr: io.stderr, env: io.env, cwd: io.cwd, signal: io.signal, signals: io.signals };
  } catch (err) {
    io.stderr.write(`${formatError(err)}\n`);
    return exitCodeFor(err);
  }
  try {
    return await dispatchCommand(invocation, ctx);
  } catch (err) {
    if (io.signal.aborted) {
      io.stderr.write('persistd: interrupted\n');
      return EXIT_CODES.interrupted;
    }
    ctx.logger.debug({ err }, 'command failed');
    ctx.logger.flush?.();
    io.stderr.write(`${formatError(err, ctx.config.logLevel === 'debug' || ctx.config.logLevel === 'trace')}\n`);
    return exitCodeFor(err);
  }
}
