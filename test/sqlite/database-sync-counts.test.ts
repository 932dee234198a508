import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseSync } from '../../src/engine/database-sync.js';
import { silentLogger } from '../../src/log/logger.js';
import { newInstanceIdentity } from '../../src/sqlite/lineage-guard.js';
import { pollUntil } from '../support/poll.js';
import { makeScratch, type Scratch } from './sqlite-fixtures.js';
import { openBankApp } from './wal/bank-app.js';

let s: Scratch;
let sync: DatabaseSync | undefined;

beforeEach(async () => {
  s = await makeScratch('db-sync-counts');
});
afterEach(async () => {
  await sync?.stop();
  sync = undefined;
  await s.cleanup();
});

const until = (condition: () => boolean, what: string): Promise<true> =>
  pollUntil(what, () => condition() || undefined, { intervalMs: 10 });

describe('DatabaseSync counts a scheduled snapshot only when one was stored', () => {
  it('does not count a compaction point when the database vanished before it (the suspected miscount, refuted for the fixed code)', async () => {
    const path = join(s.dataDir, 'bank.db');
    const app = openBankApp(path, { accounts: 50 });
    sync = new DatabaseSync({
      store: s.store,
      name: 'bank',
      path,
      stateDir: s.stateDir,
      logger: silentLogger(),
      instance: newInstanceIdentity(),
      syncIntervalMs: 20,
      retention: { retentionMs: 3_600_000, minKeep: 2 },
      stallAfterMs: 60_000,
    });
    await sync.start();
    expect(sync.status()).toMatchObject({ mode: 'wal', snapshotsStored: 1 });
    app.transfer(3);
    await until(() => sync!.status().segmentsShipped > 0, 'a segment');
    await sync.snapshot();
    const afterIncrement = sync.status();
    expect(afterIncrement.snapshotsStored).toBe(2);

    app.transfer(1);
    await until(() => sync!.status().segmentsShipped > afterIncrement.segmentsShipped, 'another segment');
    app.close();
    await rm(path);
    await rm(`${path}-wal`, { force: true });
    await rm(`${path}-shm`, { force: true });
    await sync.snapshot();
    // Nothing was stored: the count and the last snapshot stay as they were.
    expect(sync.status().snapshotsStored).toBe(2);
    expect(sync.status().lastSnapshotId).toBe(afterIncrement.lastSnapshotId);
  });
});
