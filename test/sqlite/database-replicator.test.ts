import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseReplicator } from '../../src/sqlite/database-replicator.js';
import { createDatabase, makeScratch, type Scratch } from './sqlite-fixtures.js';

let s: Scratch;
let path: string;
let replicator: DatabaseReplicator;
beforeEach(async () => {
  s = await makeScratch('replicator');
  path = join(s.dataDir, 'app.db');
  replicator = new DatabaseReplicator({
    store: s.store,
    name: 'app',
    path,
    stateDir: s.stateDir,
    retention: { retentionMs: 3_600_000, minKeep: 2 },
  });
});
afterEach(async () => {
  await replicator.close();
  await s.cleanup();
});

describe('DatabaseReplicator', () => {
  it('waits for the database to appear, then snapshots it once per change', async () => {
    expect(await replicator.snapshotOnce()).toEqual({ outcome: 'missing' });
    expect(replicator.status()).toMatchObject({ exists: false, snapshotsStored: 0 });
    createDatabase(path, 10);
    expect((await replicator.snapshotOnce()).outcome).toBe('created');
    const requests = s.store.total();
    expect((await replicator.snapshotOnce()).outcome).toBe('unchanged');
    expect(s.store.total()).toBe(requests);
    const status = replicator.status();
    expect(status).toMatchObject({ exists: true, snapshotsStored: 1, snapshotsSkippedUnchanged: 1, consecutiveFailures: 0 });
    expect(status.bytesUploaded).toBeGreaterThan(0);
    expect(status.lastSuccessAt).toBeInstanceOf(Date);
  });

  it('never runs two snapshots at once: a second call joins the first', async () => {
    createDatabase(path, 10);
    const [a, b] = await Promise.all([replicator.snapshotOnce(), replicator.snapshotOnce()]);
    expect(a).toBe(b);
    expect(s.store.counts.put).toBe(2);
  });

  it('takes a final snapshot of the last changes before its deadline', async () => {
    createDatabase(path, 10);
    await replicator.snapshotOnce();
    createDatabase(path, 5);
    const running = replicator.snapshotOnce();
    const final = await replicator.finalSnapshot({ deadline: Date.now() + 10_000 });
    expect((await running).outcome).toBe('created');
    expect(final.outcome).toBe('unchanged');
    createDatabase(path, 5);
    expect((await replicator.finalSnapshot({ deadline: new Date(Date.now() + 10_000) })).outcome).toBe('created');
    expect(replicator.status().snapshotsStored).toBe(3);
    createDatabase(path, 5);
    await expect(replicator.finalSnapshot({ deadline: Date.now() - 1 })).rejects.toThrow();
  });

  it('records a failure in its status', async () => {
    createDatabase(path, 10);
    const broken = new DatabaseReplicator({ store: s.store, name: 'app', path, stateDir: join(s.dataDir, 'app.db', 'no') });
    await expect(broken.snapshotOnce()).rejects.toThrow();
    expect(broken.status()).toMatchObject({ consecutiveFailures: 1, lastError: { message: expect.any(String) } });
    await broken.close();
  });
});
