import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { snapshotDataKey } from '../../src/format/db-keys.js';
import { applyRetention } from '../../src/sqlite/apply-retention.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { listSnapshots, scanSnapshots } from '../../src/sqlite/snapshot-catalog.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import { createDatabase, makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';

const DAY = 86_400_000;
let s: Scratch;
let path: string;
let ids: string[];

beforeEach(async () => {
  s = await makeScratch('retention');
  path = join(s.dataDir, 'app.db');
  ids = [];
  for (let i = 0; i < 4; i++) {
    createDatabase(path, 10);
    const result = await snapshotDatabase({ store: s.store, name: 'app', path, stateDir: s.stateDir });
    if (result.outcome !== 'created') throw new Error('no snapshot');
    ids.push(result.snapshotId);
  }
});
afterEach(() => s.cleanup());

describe('applyRetention', () => {
  it('keeps everything younger than the retention', async () => {
    const result = await applyRetention({ store: s.store, name: 'app', retentionMs: 7 * DAY, minKeep: 1 });
    expect(result.deletedSnapshots).toEqual([]);
    expect((await listSnapshots({ store: s.store, name: 'app' })).map((l) => l.id)).toEqual(ids);
  });

  it('deletes expired snapshots beyond min-keep, manifests first, and what is left restores', async () => {
    const now = new Date(Date.now() + 10 * DAY);
    const result = await applyRetention({ store: s.store, name: 'app', retentionMs: 7 * DAY, minKeep: 2, now });
    expect(result.kept).toEqual([ids[3], ids[2]]);
    expect(result.deletedSnapshots).toEqual([ids[1], ids[0]]);
    const { entries, objects } = await scanSnapshots(s.store, 'app');
    expect(entries.map((e) => e.id)).toEqual([ids[2], ids[3]]);
    expect(objects).toHaveLength(4);
    await restoreDatabase({ store: s.store, name: 'app', target: join(s.dir, 'r.db'), stateDir: s.stateDir });
    expect(readRows(join(s.dir, 'r.db')).max).toBe(40);
  });

  it('never deletes the newest snapshot, even with min-keep 0', async () => {
    const result = await applyRetention({ store: s.store, name: 'app', retentionMs: 1, minKeep: 0, now: new Date(Date.now() + DAY) });
    expect(result.kept).toEqual([ids[3]]);
    expect((await scanSnapshots(s.store, 'app')).objects).toHaveLength(2);
  });

  it('removes data objects no manifest commits once older than the grace period, not before', async () => {
    const [generation] = ids[3]!.split('/') as [string];
    const orphan = snapshotDataKey('app', generation, '20990101T000000000Z');
    await s.store.put(orphan, 'partial upload');
    const soon = await applyRetention({ store: s.store, name: 'app', retentionMs: 7 * DAY, minKeep: 1 });
    expect(soon.deletedOrphans).toEqual([]);
    const later = await applyRetention({
      store: s.store,
      name: 'app',
      retentionMs: 30 * DAY,
      minKeep: 1,
      now: new Date(Date.now() + 2 * 3_600_000),
    });
    expect(later.deletedOrphans).toEqual([orphan]);
    expect(later.deletedSnapshots).toEqual([]);
    expect(await readdir(join(s.dir, 'store', 'db', 'app', 'gen', generation, 'snap'))).toHaveLength(8);
  });
});
