import { Command, Option } from 'commander';
import { OPTION_SPECS, type OptionSpec } from '../config/option-specs.js';
import { PERSISTD_VERSION } from '../version.js';
import type { CommandInvocation } from '../commands/command-invocation.js';
import { COMMAND_SPECS } from './command-specs.js';
import { COMMAND_OPTIONS } from './command-options.js';

/** Where commander writes help and errors. */
export interface ProgramOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/** Builds the commander program; each command's action hands a CommandInvocation to `dispatch`. */
export function buildProgram(dispatch: (invocation: CommandInvocation) => Promise<void>, output: ProgramOutput): Command {
  const program = new Command('persistd')
    .description('Restores and continuously backs up the SQLite databases, directories and files of apps on ephemeral containers.')
    .version(PERSISTD_VERSION, '-V, --version', 'print the persistd version')
    .enablePositionalOptions()
    .showHelpAfterError('(run persistd <command> --help for usage)')
    .configureOutput({
      writeOut: output.writeOut,
      writeErr: output.writeErr,
      outputError: (text, write) => write(`persistd: ${text.replace(/^error: /, '')}`),
    })
    .exitOverride();
  program.addHelpText(
    'after',
    '\nExamples:\n  persistd run --to s3://my-bucket/myapp --db ./data/app.db --dir ./uploads -- node server.js\n  persistd doctor --to file:///mnt/backups\n\nDocs: README.md (configuration reference, exit codes, platform recipes).',
  );

  for (const spec of COMMAND_SPECS) {
    const command = program.command(spec.name).description(spec.summary).exitOverride().configureOutput(program.configureOutput());
    const settings: Array<{ spec: OptionSpec; attribute: string }> = [];
    if (spec.scopes.includes('common')) {
      command.addOption(new Option('--config <file>', 'read settings from a persistd.yml').env('PERSISTD_CONFIG').hideHelp(false));
    }
    for (const optionSpec of OPTION_SPECS.filter((candidate) => spec.scopes.includes(candidate.scope))) {
      const option = new Option(optionSpec.flag, `${optionSpec.description} [${optionSpec.env[0]}]`);
      if (optionSpec.type === 'list') option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
      if (optionSpec.type === 'switch') option.preset('true'); // a flag without a value: the resolver reads text
      command.addOption(option);
      settings.push({ spec: optionSpec, attribute: option.attributeName() });
    }
    for (const option of COMMAND_OPTIONS[spec.name] ?? []) command.addOption(option());
    if (spec.name === 'run') {
      command.argument('[command...]', 'the app to start, after --').passThroughOptions();
    }
    command.addHelpText('after', `\nExamples:\n${spec.examples.map((line) => `  ${line}`).join('\n')}\n`);
    command.action(async (...received: unknown[]) => {
      const self = received[received.length - 1] as Command;
      const opts = self.opts<Record<string, unknown>>();
      const invocationSettings: Record<string, string | string[] | undefined> = {};
      const options: Record<string, unknown> = { ...opts };
      for (const { spec: optionSpec, attribute } of settings) {
        invocationSettings[optionSpec.key] = opts[attribute] as string | string[] | undefined;
        delete options[attribute];
      }
      const configPath = opts.config as string | undefined;
      delete options.config;
      await dispatch({ name: spec.name, settings: invocationSettings, configPath, options, args: self.args });
    });
  }
  return program;
}
