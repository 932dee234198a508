/** How a setting's text is turned into a value. */
export type OptionType = 'string' | 'list' | 'duration' | 'integer' | 'ratio' | 'schedule' | 'level' | 'switch';

/** Which commands take a setting: every command, or the ones that move data. */
export type OptionScope = 'common' | 'sync' | 'run';

/** One setting, settable by flag, environment variable and config file key. */
export interface OptionSpec {
  /** Key in the resolved settings and in the error messages. */
  key: string;
  /** Commander flag syntax. */
  flag: string;
  /** Environment variables, first one set wins. */
  env: readonly string[];
  /** Key in persistd.yml. */
  fileKey: string;
  type: OptionType;
  scope: OptionScope;
  description: string;
}

/** Every setting persistd has; flags, env and the config file are all derived from this table. */
export const OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'to',
    flag: '--to <url>',
    env: ['PERSISTD_URL'],
    fileKey: 'to',
    type: 'string',
    scope: 'common',
    description: 'replica: s3://bucket/prefix, r2://bucket/prefix, gs://bucket/prefix or file:///absolute/path',
  },
  {
    key: 'dbs',
    flag: '--db <path>',
    env: ['PERSISTD_DBS'],
    fileKey: 'dbs',
    type: 'list',
    scope: 'common',
    description: 'SQLite database to protect (repeatable; [name=]path)',
  },
  {
    key: 'dirs',
    flag: '--dir <path>',
    env: ['PERSISTD_DIRS'],
    fileKey: 'dirs',
    type: 'list',
    scope: 'common',
    description: 'directory to protect (repeatable; [name=]path)',
  },
  {
    key: 'files',
    flag: '--file <path>',
    env: ['PERSISTD_FILES'],
    fileKey: 'files',
    type: 'list',
    scope: 'common',
    description: 'single file to protect, e.g. a JSON token file (repeatable)',
  },
  {
    key: 'ageRecipients',
    flag: '--age-recipient <age1...>',
    env: ['PERSISTD_AGE_RECIPIENTS'],
    fileKey: 'age-recipients',
    type: 'list',
    scope: 'common',
    description: 'encrypt the replica to this age public key (repeatable, at most 4; age-keygen prints it)',
  },
  {
    key: 'ageIdentity',
    flag: '--age-identity <path|key>',
    env: ['PERSISTD_AGE_IDENTITY'],
    fileKey: 'age-identity',
    type: 'string',
    scope: 'common',
    description:
      'age identity to decrypt the replica with: the path of an age-keygen identity file, or the AGE-SECRET-KEY-1... string (restore, verify and run need it)',
  },
  {
    key: 'endpoint',
    flag: '--endpoint <url>',
    env: ['PERSISTD_S3_ENDPOINT', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'],
    fileKey: 'endpoint',
    type: 'string',
    scope: 'common',
    description: 'S3-compatible endpoint (MinIO, B2, Tigris, Ceph, ...); implies path-style addressing',
  },
  {
    key: 'region',
    flag: '--region <region>',
    env: ['PERSISTD_S3_REGION', 'AWS_REGION', 'AWS_DEFAULT_REGION'],
    fileKey: 'region',
    type: 'string',
    scope: 'common',
    description: 'S3 region (default us-east-1; auto for R2 and GCS)',
  },
  {
    key: 'logLevel',
    flag: '--log-level <level>',
    env: ['PERSISTD_LOG_LEVEL'],
    fileKey: 'log-level',
    type: 'level',
    scope: 'common',
    description: 'trace, debug, info, warn, error or silent (default info)',
  },
  {
    key: 'stateDir',
    flag: '--state-dir <path>',
    env: ['PERSISTD_STATE_DIR'],
    fileKey: 'state-dir',
    type: 'string',
    scope: 'common',
    description: 'where persistd keeps its local index and temp files (default ./.persistd)',
  },
  {
    key: 'concurrency',
    flag: '--concurrency <n>',
    env: ['PERSISTD_CONCURRENCY'],
    fileKey: 'concurrency',
    type: 'integer',
    scope: 'sync',
    description: 'parallel transfers (default 16)',
  },
  {
    key: 'exclude',
    flag: '--exclude <glob>',
    env: ['PERSISTD_EXCLUDE'],
    fileKey: 'exclude',
    type: 'list',
    scope: 'sync',
    description: 'skip files matching this glob in protected directories (repeatable)',
  },
  {
    key: 'include',
    flag: '--include <glob>',
    env: ['PERSISTD_INCLUDE'],
    fileKey: 'include',
    type: 'list',
    scope: 'sync',
    description: 'only protect files matching this glob (repeatable)',
  },
  {
    key: 'retention',
    flag: '--retention <duration>',
    env: ['PERSISTD_RETENTION'],
    fileKey: 'retention',
    type: 'duration',
    scope: 'sync',
    description: 'keep every state restorable from within this period: snapshots and the WAL segments after them (default 7d)',
  },
  {
    key: 'retentionMin',
    flag: '--retention-min <n>',
    env: ['PERSISTD_RETENTION_MIN'],
    fileKey: 'retention-min',
    type: 'integer',
    scope: 'sync',
    description: 'never keep fewer snapshots than this (default 2)',
  },
  {
    key: 'snapshotInterval',
    flag: '--snapshot-interval <when>',
    env: ['PERSISTD_SNAPSHOT_INTERVAL'],
    fileKey: 'snapshot-interval',
    type: 'schedule',
    scope: 'run',
    description: 'database snapshot schedule: a duration (5m, 1h) or a cron expression (default 5m)',
  },
  {
    key: 'fullSnapshotInterval',
    flag: '--full-snapshot-interval <duration>',
    env: ['PERSISTD_FULL_SNAPSHOT_INTERVAL'],
    fileKey: 'full-snapshot-interval',
    type: 'duration',
    scope: 'run',
    description:
      'WAL-mode databases: a snapshot stores only the pages changed since the previous one, and the whole database at least this often (default 7d; 0: always whole)',
  },
  {
    key: 'fullSnapshotShare',
    flag: '--full-snapshot-share <share>',
    env: ['PERSISTD_FULL_SNAPSHOT_SHARE'],
    fileKey: 'full-snapshot-share',
    type: 'ratio',
    scope: 'run',
    description:
      'WAL-mode databases: store the whole database again once the changed pages stored since the last full snapshot reach this share of it (default 0.25)',
  },
  {
    key: 'verifyInterval',
    flag: '--verify-interval <when>',
    env: ['PERSISTD_VERIFY_INTERVAL'],
    fileKey: 'verify-interval',
    type: 'schedule',
    scope: 'run',
    description:
      'rebuild the latest replicated state of each database and check it on this schedule (a duration or a cron expression; off by default)',
  },
  {
    key: 'syncInterval',
    flag: '--sync-interval <duration>',
    env: ['PERSISTD_SYNC_INTERVAL'],
    fileKey: 'sync-interval',
    type: 'duration',
    scope: 'run',
    description: 'how often changes are shipped (default 1s)',
  },
  {
    key: 'maxDelete',
    flag: '--max-delete <share>',
    env: ['PERSISTD_MAX_DELETE'],
    fileKey: 'max-delete',
    type: 'ratio',
    scope: 'sync',
    description: 'pause delete propagation when more than this share of a tree vanishes at once (default 0.2)',
  },
  {
    key: 'keepDeleted',
    flag: '--keep-deleted <duration>',
    env: ['PERSISTD_KEEP_DELETED'],
    fileKey: 'keep-deleted',
    type: 'duration',
    scope: 'sync',
    description: 'keep remotely deleted files in the trash this long (default 7d)',
  },
  {
    key: 'reconcileInterval',
    flag: '--reconcile-interval <duration>',
    env: ['PERSISTD_RECONCILE_INTERVAL'],
    fileKey: 'reconcile-interval',
    type: 'duration',
    scope: 'run',
    description: 'list the replica this often and upload again the files missing from it (default 1h; 0: only at start)',
  },
  {
    key: 'restoreSpecialModes',
    flag: '--restore-special-modes',
    env: ['PERSISTD_RESTORE_SPECIAL_MODES'],
    fileKey: 'restore-special-modes',
    type: 'switch',
    scope: 'sync',
    description: 'restore setuid/setgid bits, and world-write without the sticky bit, as the replica records them (off: masked)',
  },
  {
    key: 'restoreTimeout',
    flag: '--restore-timeout <duration>',
    env: ['PERSISTD_RESTORE_TIMEOUT'],
    fileKey: 'restore-timeout',
    type: 'duration',
    scope: 'run',
    description: 'give up restoring after this long (default 10m)',
  },
  {
    key: 'appStopTimeout',
    flag: '--app-stop-timeout <duration>',
    env: ['PERSISTD_APP_STOP_TIMEOUT'],
    fileKey: 'app-stop-timeout',
    type: 'duration',
    scope: 'run',
    description: 'wait this long for the app after forwarding a signal, then SIGKILL it (default 15s)',
  },
  {
    key: 'shutdownTimeout',
    flag: '--shutdown-timeout <duration>',
    env: ['PERSISTD_SHUTDOWN_TIMEOUT'],
    fileKey: 'shutdown-timeout',
    type: 'duration',
    scope: 'run',
    description: 'deadline for the final backup after the app stopped (default 10s)',
  },
  {
    key: 'metricsAddr',
    flag: '--metrics-addr <host:port>',
    env: ['PERSISTD_METRICS_ADDR'],
    fileKey: 'metrics-addr',
    type: 'string',
    scope: 'run',
    description: 'serve /metrics and /healthz on this address (off by default)',
  },
];

/** The config file keys persistd knows, for the "unknown key" message. */
export const FILE_KEYS: readonly string[] = OPTION_SPECS.map((spec) => spec.fileKey);
