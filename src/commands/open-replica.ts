import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { DEFAULTS } from '../config/defaults.js';
import type { Logger } from '../log/logger.js';
import { openStore, type OpenedStore } from '../store/open-store.js';
import { requireReplica } from './require-replica.js';

/** Opens the configured replica as an ObjectStore (with retries, a concurrency limit and request counting). */
export function openReplica(config: Config, logger: Logger): OpenedStore {
  const replica = requireReplica(config);
  if (replica.scheme === 'file') {
    createReplicaDirectory(replica.root, logger);
    return openStore({ kind: 'fs', root: replica.root }, { concurrency: config.concurrency, logger, age: config.age });
  }
  const s3 = config.s3;
  if (!s3) throw new Error('internal: an S3 replica without S3 settings');
  return openStore(
    {
      kind: 's3',
      bucket: s3.bucket,
      prefix: s3.prefix,
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      // A copy: the config is frozen and the SDK annotates credential objects it is given.
      credentials: s3.credentials ? { ...s3.credentials } : undefined,
      requestTimeoutMs: DEFAULTS.requestTimeout,
      // GCS's XML API ignores If-None-Match/If-Match (it has its own generation headers); R2 prefers few parallel parts.
      ...(s3.provider === 'gcs' ? { conditionalWrites: 'off' as const } : {}),
      ...(s3.provider === 'r2' ? { multipartConcurrency: 2 } : {}),
    },
    { concurrency: config.concurrency, logger, age: config.age },
  );
}

// The replica directory is created when its parent exists (file:///mnt/disk/myapp on a mounted
// /mnt/disk). A missing parent is left for FsStore to report: it usually means a volume that is not
// mounted, and creating it would put the "backup" on the ephemeral disk.
function createReplicaDirectory(root: string, logger: Logger): void {
  try {
    if (statSync(path.dirname(root)).isDirectory()) {
      mkdirSync(root);
      logger.info({ root }, 'created the replica directory');
    }
  } catch {
    // Exists already, or the parent is missing or not writable: FsStore reports the real problem.
  }
}
