import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseReplicator } from '../../src/sqlite/database-replicator.js';
import { parseSchedule, startSchedule } from '../../src/sqlite/schedule.js';
import { createDatabase, makeScratch, type Scratch } from './sqlite-fixtures.js';

let s: Scratch;
let path: string;
let replicator: DatabaseReplicator;
beforeEach(async () => {
  s = await makeScratch('replicator');
  path = join(s.dataDir, 'app.db');
  replicator = new DatabaseReplicator({ store: s.store, name: 'app', path, stateDir: s.stateDir, retention: { retentionMs: 3_600_000, minKeep: 2 } });
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

describe('schedules', () => {
  it('parses durations and cron expressions, and rejects anything else', () => {
    expect(parseSchedule('5m')).toEqual({ kind: 'interval', ms: 300_000, text: '5m' });
    expect(parseSchedule('30s')).toMatchObject({ kind: 'interval', ms: 30_000 });
    expect(parseSchedule(' 0 2 * * * ')).toEqual({ kind: 'cron', expression: '0 2 * * *', text: '0 2 * * *' });
    expect(() => parseSchedule('every hour')).toThrow(/neither a duration nor a cron expression/);
    expect(() => parseSchedule('100ms')).toThrow(/shorter than 1s/);
    expect(() => parseSchedule('99 * * * *')).toThrow();
  });

  it('runs an interval job without overlap until stopped', async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const job = startSchedule({ kind: 'interval', ms: 5, text: '5ms' }, async () => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((resolve) => setTimeout(resolve, 10));
      runs++;
      concurrent--;
    });
    const deadline = Date.now() + 5000;
    while (runs < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    job.stop();
    await job.idle();
    const stoppedAt = runs;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stoppedAt).toBeGreaterThanOrEqual(3);
    expect(runs).toBe(stoppedAt);
    expect(maxConcurrent).toBe(1);
  });

  it('runs a cron job (every second) until stopped', async () => {
    let runs = 0;
    const job = startSchedule(parseSchedule('* * * * * *'), async () => {
      runs++;
    });
    const deadline = Date.now() + 5000;
    while (runs < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    job.stop();
    expect(runs).toBeGreaterThanOrEqual(1);
  });
});
