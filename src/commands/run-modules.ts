/**
 * What `persistd run` needs only after its first request to the store: the restore of every target, the
 * replication engine, the app supervisor and the local database checks (with them better-sqlite3, the
 * zstd codec and the file watchers). `run` starts loading them once that request is on its way, so the
 * request does not wait for modules it does not use (the AWS SDK and the replica marker are all it needs).
 */
async function loadRunModules() {
  const [restore, daemon, supervisor, finalBackup, localCheck, fingerprint, keptDisk] = await Promise.all([
    import('./restore.js'),
    import('../engine/replication-daemon.js'),
    import('../engine/app-supervisor.js'),
    import('../engine/retry-final-backup.js'),
    import('../sqlite/check-local-database.js'),
    import('../sqlite/db-fingerprint.js'),
    import('../sqlite/kept-disk-continuation.js'),
  ]);
  return {
    restoreAll: restore.restoreAll,
    ReplicationDaemon: daemon.ReplicationDaemon,
    AppSupervisor: supervisor.AppSupervisor,
    retryFinalBackup: finalBackup.retryFinalBackup,
    checkLocalDatabase: localCheck.checkLocalDatabase,
    readFingerprint: fingerprint.readFingerprint,
    keptDiskContinuation: keptDisk.keptDiskContinuation,
    logKeptDisk: keptDisk.logKeptDisk,
  };
}

/** The modules loadRunModules() loads, by the names run.ts uses. */
export type RunModules = Awaited<ReturnType<typeof loadRunModules>>;

let loading: Promise<RunModules> | undefined;

/** Loads the modules once per process (later calls share the first load). */
export function runModules(): Promise<RunModules> {
  loading ??= loadRunModules();
  return loading;
}
