import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRetention } from '../../src/sqlite/apply-retention.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { listSnapshots } from '../../src/sqlite/snapshot-catalog.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import { verifySnapshot } from '../../src/sqlite/verify-snapshot.js';
import { S3Store } from '../../src/store/s3-store.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';
import { CountingStore } from './counting-store.js';
import { createDatabase, makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';
import { startWriter } from './writer-process.js';

let s: Scratch;
let s3: S3Store;
let store: CountingStore;

beforeAll(async () => {
  s = await makeScratch('s3');
  const config = testS3();
  s3 = new S3Store({
    bucket: await createTestBucket('sqlite'),
    prefix: `p-${randomBytes(3).toString('hex')}/`,
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
  });
  store = new CountingStore(s3);
});
afterAll(async () => {
  s3?.destroy();
  await s?.cleanup();
});

describe('SQLite snapshots on a real S3 server', () => {
  it('snapshot under load (multipart), list, restore, verify and retention round-trip', async () => {
    const path = join(s.dataDir, 'app.db');
    createDatabase(path, 45_000); // ~10 MiB of random bytes: more than one 8 MiB part
    const writer = startWriter(path, 'wal');
    await writer.ready;
    const first = await snapshotDatabase({ store, name: 'app', path, stateDir: s.stateDir });
    const last = await writer.stop();
    const second = await snapshotDatabase({ store, name: 'app', path, stateDir: s.stateDir });
    if (first.outcome !== 'created' || second.outcome !== 'created') throw new Error('expected two snapshots');
    expect(first.manifest.data.size).toBeGreaterThan(8 << 20);

    const puts = store.counts.put;
    expect((await snapshotDatabase({ store, name: 'app', path, stateDir: s.stateDir })).outcome).toBe('unchanged');
    expect(store.counts.put).toBe(puts);

    expect((await listSnapshots({ store, name: 'app' })).map((l) => l.id)).toEqual([first.snapshotId, second.snapshotId]);
    const target = join(s.dir, 'restored.db');
    await restoreDatabase({ store, name: 'app', target, stateDir: s.stateDir });
    expect(readRows(target)).toEqual({ count: last, max: last, meta: last, integrity: 'ok' });
    const verified = await verifySnapshot({ store, name: 'app', snapshotId: first.snapshotId, stateDir: s.stateDir });
    const rows = verified.tables.find((t) => t.table === 't')!.rows;
    expect(rows).toBeGreaterThanOrEqual(45_000);
    expect(rows).toBeLessThanOrEqual(last);

    const retained = await applyRetention({ store, name: 'app', retentionMs: 1, minKeep: 1, now: new Date(Date.now() + 60_000) });
    expect(retained.deletedSnapshots).toEqual([first.snapshotId]);
    expect((await listSnapshots({ store, name: 'app' })).map((l) => l.id)).toEqual([second.snapshotId]);
  }, 120_000);
});
