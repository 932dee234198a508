/** Every default persistd uses, in one place. Durations are in milliseconds. */
export const DEFAULTS = Object.freeze({
  logLevel: 'info',
  region: 'us-east-1',
  stateDir: '.persistd',
  snapshotInterval: '5m',
  syncInterval: 1_000,
  retention: 7 * 24 * 3600_000,
  retentionMin: 2,
  concurrency: 16,
  maxDelete: 0.2,
  keepDeleted: 7 * 24 * 3600_000,
  reconcileInterval: 3600_000,
  restoreSpecialModes: false,
  restoreTimeout: 10 * 60_000,
  appStopTimeout: 15_000,
  shutdownTimeout: 10_000,
  requestTimeout: 30_000,
});
