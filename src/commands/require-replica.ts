import type { Config } from '../config/config.js';
import { usageError } from '../errors.js';

/** The replica, or a loud usage error that names exactly what to set; a silently ephemeral deployment must be impossible. */
export function requireReplica(config: Config): NonNullable<Config['replica']> {
  if (config.replica) return config.replica;
  throw usageError(
    'no replica configured: persistd does not know where to keep your data',
    'set PERSISTD_URL (or --to) to s3://bucket/prefix, r2://bucket/prefix, gs://bucket/prefix or file:///absolute/path, ' +
      'with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or R2_ACCOUNT_ID, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY and R2_BUCKET_NAME); ' +
      'to run the app without persistence on purpose, set PERSISTD_DISABLED=1',
  );
}

/** Fails with a usage error when no database, directory or file is configured for a command that needs one. */
export function requireTargets(config: Config, command: string): void {
  if (config.databases.length + config.directories.length + config.files.length > 0) return;
  throw usageError(
    `${command}: nothing to protect is configured`,
    'give --db, --dir or --file (or PERSISTD_DBS, PERSISTD_DIRS, PERSISTD_FILES)',
  );
}
