/** The commands persistd has. */
export type CommandName = 'run' | 'restore' | 'backup' | 'snapshots' | 'verify' | 'doctor' | 'status' | 'version';

/** One parsed command line, handed to the dispatcher. */
export interface CommandInvocation {
  name: CommandName;
  /** Settings given as flags, keyed by setting key (see option-specs.ts). */
  settings: Record<string, string | string[] | undefined>;
  configPath: string | undefined;
  /** Command-only options such as --force or --json, camelCased. */
  options: Record<string, unknown>;
  /** Operands: for `run`, the app command and its arguments. */
  args: string[];
}
