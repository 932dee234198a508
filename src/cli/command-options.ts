import { Option } from 'commander';
import type { CommandName } from '../commands/command-invocation.js';

/** Options that belong to one command's invocation and are not settings (not in env or the config file). */
export const COMMAND_OPTIONS: Partial<Record<CommandName, Array<() => Option>>> = {
  restore: [
    () => new Option('--timestamp <iso>', 'restore the last transaction shipped (or snapshot taken) at or before this time'),
    () => new Option('--generation <id>', 'restore from this generation instead of the latest (see persistd snapshots)'),
    () => new Option('--snapshot <id>', 'restore exactly this snapshot, without later WAL segments (see persistd snapshots)'),
    () => new Option('-o, --output <path>', 'restore the database to this path instead (needs exactly one --db)'),
    () => new Option('--force', 'replace existing local databases'),
    () => new Option('--if-not-exists', 'skip databases that already exist locally'),
    () => new Option('--if-replica-exists', 'succeed quietly when there is no backup yet'),
    () => new Option('--quick-check', 'verify with PRAGMA quick_check instead of integrity_check (large databases)'),
    () => new Option('--include-deleted', 'also bring back files deleted within the keep-deleted period'),
    () =>
      new Option(
        '--aside <instance>',
        'restore the files and directories a fenced instance kept aside (see persistd snapshots), not the live ones',
      ),
  ],
  backup: [() => new Option('--json', 'print the result as JSON')],
  snapshots: [() => new Option('--json', 'print as JSON')],
  verify: [
    () => new Option('--snapshot <id>', 'verify this snapshot instead of the latest'),
    () => new Option('--quick-check', 'use PRAGMA quick_check instead of integrity_check'),
    () => new Option('--json', 'print the result as JSON'),
  ],
  doctor: [() => new Option('--json', 'print the checklist as JSON')],
  status: [() => new Option('--remote', 'also show what the replica holds'), () => new Option('--json', 'print as JSON')],
};
