import type { CommandName } from '../commands/command-invocation.js';
import type { OptionScope } from '../config/option-specs.js';

/** A command's help: what it does, which settings it takes, and examples. */
export interface CommandSpec {
  name: CommandName;
  summary: string;
  scopes: readonly OptionScope[];
  examples: readonly string[];
}

/** Every command, in the order `persistd --help` lists them. */
export const COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: 'run',
    summary: 'restore, start the app, replicate continuously, final backup on shutdown',
    scopes: ['common', 'sync', 'run'],
    examples: [
      'persistd run --to s3://my-bucket/myapp --db ./data/app.db --dir ./uploads -- node server.js',
      'PERSISTD_URL=r2://my-bucket/myapp PERSISTD_DBS=/data/app.db persistd run -- gunicorn app:app',
      'persistd run --config persistd.yml -- ./start.sh',
    ],
  },
  {
    name: 'restore',
    summary: 'restore databases, directories and files from the replica',
    scopes: ['common', 'sync'],
    examples: [
      'persistd restore --to s3://my-bucket/myapp --db ./data/app.db',
      'persistd restore --to file:///mnt/backups --db ./data/app.db --timestamp 2026-11-20T10:00:00Z -o /tmp/app.db',
      'persistd restore --if-not-exists --if-replica-exists --config persistd.yml',
    ],
  },
  {
    name: 'backup',
    summary: 'take a snapshot of every database and sync directories and files once',
    scopes: ['common', 'sync'],
    examples: ['persistd backup --to s3://my-bucket/myapp --db ./data/app.db --dir ./uploads'],
  },
  {
    name: 'snapshots',
    summary: 'list what can be restored: generations, their snapshots and WAL segments',
    scopes: ['common'],
    examples: ['persistd snapshots --to s3://my-bucket/myapp --db ./data/app.db', 'persistd snapshots --json --config persistd.yml'],
  },
  {
    name: 'verify',
    summary: 'rebuild the latest state (snapshot and WAL segments) into a temp place and check it',
    scopes: ['common'],
    examples: ['persistd verify --to s3://my-bucket/myapp --db ./data/app.db'],
  },
  {
    name: 'doctor',
    summary: "check configuration, credentials, the bucket and the provider's S3 behaviour",
    scopes: ['common'],
    examples: ['persistd doctor --to s3://my-bucket/myapp --db ./data/app.db', 'persistd doctor --to file:///mnt/backups'],
  },
  {
    name: 'status',
    summary: 'show what a running persistd replicates, how far behind, and the last error',
    scopes: ['common'],
    examples: ['persistd status', 'persistd status --remote --to s3://my-bucket/myapp'],
  },
  { name: 'version', summary: 'print the persistd version', scopes: [], examples: ['persistd version'] },
];
