import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentPointerKey, parseSnapshotKey } from '../../src/format/db-keys.js';
import { silentLogger } from '../../src/log/logger.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { lineageGeneration } from '../../src/sqlite/restore-point.js';
import { verifySnapshot } from '../../src/sqlite/verify-snapshot.js';
import { WalShipper } from '../../src/sqlite/wal/wal-shipper.js';
import { makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';
import { openApp } from './wal/wal-helpers.js';

let s: Scratch;
let shipper: WalShipper | undefined;

beforeEach(async () => {
  s = await makeScratch('tampered');
});
afterEach(async () => {
  await shipper?.stop({ final: false }).catch(() => undefined);
  shipper = undefined;
  await s.cleanup();
});

/** A replica of 300 rows: a generation's snapshot with 2 rows, then WAL segments shipped more than 2 s after it. */
async function replicaWithSegments(): Promise<{ manifestFile: string }> {
  const path = join(s.dataDir, 'app.db');
  const app = openApp(path);
  app.commit(2);
  shipper = new WalShipper({ store: s.store, name: 'app', path, stateDir: s.stateDir });
  await shipper.syncOnce();
  // Segments shipped well after the snapshot was taken (its position cannot hold them).
  await new Promise((resolve) => setTimeout(resolve, 2100));
  for (let i = 0; i < 8; i++) {
    app.commit(37);
    await shipper.syncOnce();
  }
  app.close();
  await shipper.stop({ final: false });
  shipper = undefined;
  let manifestKey: string | undefined;
  for await (const info of s.store.list('db/app/')) if (parseSnapshotKey(info.key)?.kind === 'manifest') manifestKey = info.key;
  return { manifestFile: join(s.dir, 'store', manifestKey!) };
}

async function tamper(file: string, edit: (manifest: Record<string, any>) => void): Promise<void> {
  const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;
  edit(manifest);
  await writeFile(file, JSON.stringify(manifest));
}

describe('tampered database metadata is an integrity error, never "nothing more"', () => {
  it('restores all 298 rows after the snapshot while the metadata is intact', async () => {
    await replicaWithSegments();
    const target = join(s.dir, 'ok', 'app.db');
    await restoreDatabase({ store: s.store, name: 'app', target });
    expect(readRows(target)).toMatchObject({ count: 298, integrity: 'ok' });
  });

  for (const [label, edit] of [
    [
      'frame -3',
      (m: Record<string, any>) => {
        m['wal'].frame = -3;
      },
    ],
    [
      'epoch -1',
      (m: Record<string, any>) => {
        m['wal'].epoch = -1;
      },
    ],
    [
      'frame 1.5',
      (m: Record<string, any>) => {
        m['wal'].frame = 1.5;
      },
    ],
    [
      'salt1 2^32',
      (m: Record<string, any>) => {
        m['wal'].salt1 = 2 ** 32;
      },
    ],
    [
      'wal "x"',
      (m: Record<string, any>) => {
        m['wal'] = 'x';
      },
    ],
  ] as const) {
    it(`a manifest whose wal field is invalid (${label}): restore and verify fail naming it, nothing installed`, async () => {
      const { manifestFile } = await replicaWithSegments();
      await tamper(manifestFile, edit);
      const target = join(s.dir, 'bad', 'app.db');
      await expect(restoreDatabase({ store: s.store, name: 'app', target })).rejects.toMatchObject({
        kind: 'integrity',
        message: /invalid or missing wal/,
      });
      await expect(readFile(target)).rejects.toThrow(/ENOENT/);
      await expect(verifySnapshot({ store: s.store, name: 'app', stateDir: s.stateDir })).rejects.toMatchObject({ kind: 'integrity' });
    });
  }

  it('a manifest whose wal frame claims segments shipped after it (frame 1e9): restore and verify fail', async () => {
    const { manifestFile } = await replicaWithSegments();
    await tamper(manifestFile, (m) => {
      m['wal'].frame = 1e9;
    });
    const target = join(s.dir, 'bad', 'app.db');
    await expect(restoreDatabase({ store: s.store, name: 'app', target })).rejects.toMatchObject({
      kind: 'integrity',
      message: /claims frames of .* shipped after the snapshot was taken/,
    });
    await expect(verifySnapshot({ store: s.store, name: 'app', stateDir: s.stateDir })).rejects.toMatchObject({ kind: 'integrity' });
  });

  it('a lineage pointer naming a generation that does not exist: the newest generation is restored and the result says so', async () => {
    await replicaWithSegments();
    const now = new Date().toISOString();
    await s.store.put(
      currentPointerKey('app'),
      JSON.stringify({
        format: 1,
        kind: 'lineage',
        database: 'app',
        generation: '20200101T000000000Z-deadbeef',
        instance: 'i',
        host: 'h',
        pid: 1,
        instanceStartedAt: now,
        takenAt: now,
        restoredFrom: null,
        createdBy: 'test',
      }),
    );
    const preferred = await lineageGeneration(s.store, 'app', silentLogger());
    expect(preferred).toBe('20200101T000000000Z-deadbeef');
    const target = join(s.dir, 'fallback', 'app.db');
    const result = await restoreDatabase({ store: s.store, name: 'app', target, preferredGeneration: preferred! });
    expect(result.restored && result.notice).toMatch(
      /names generation 20200101T000000000Z-deadbeef, which is not in the store; restored generation \S+, the newest one instead/,
    );
    expect(readRows(target)).toMatchObject({ count: 298 });
  });
});
