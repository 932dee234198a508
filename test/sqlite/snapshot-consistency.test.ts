import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import { makeScratch, readRows, type Scratch } from './sqlite-fixtures.js';
import { startWriter } from './writer-process.js';

let scratch: Scratch | undefined;
afterEach(async () => {
  await scratch?.cleanup();
  scratch = undefined;
});

/** Snapshots while a writer commits, then restores every snapshot and checks it holds exactly rows 1..N. */
async function snapshotUnderLoad(journalMode: string, rounds: number): Promise<void> {
  scratch = await makeScratch(`load-${journalMode}`);
  const s = scratch;
  await mkdir(s.dataDir, { recursive: true });
  const path = join(s.dataDir, 'app.db');
  const writer = startWriter(path, journalMode);
  await writer.ready;
  const ids: string[] = [];
  try {
    const deadline = Date.now() + 20_000;
    while (ids.length < rounds && Date.now() < deadline) {
      const result = await snapshotDatabase({ store: s.store, name: 'app', path, stateDir: s.stateDir });
      if (result.outcome === 'created') ids.push(result.snapshotId);
    }
  } finally {
    await writer.stop();
  }
  const last = await writer.done;
  const final = await snapshotDatabase({ store: s.store, name: 'app', path, stateDir: s.stateDir });
  expect(final.outcome).toBe('created');

  let previous = 0;
  for (const [i, id] of ids.entries()) {
    const output = join(s.dir, `restored-${i}.db`);
    const restored = await restoreDatabase({ store: s.store, name: 'app', target: path, output, snapshotId: id, stateDir: s.stateDir });
    expect(restored.restored).toBe(true);
    const rows = readRows(output);
    expect(rows.integrity).toBe('ok');
    expect(rows.count).toBe(rows.max);
    expect(rows.meta).toBe(rows.max);
    expect(rows.max).toBeGreaterThanOrEqual(previous);
    previous = rows.max;
  }
  expect(ids.length).toBe(rounds);
  const latest = join(s.dir, 'latest.db');
  await restoreDatabase({ store: s.store, name: 'app', target: path, output: latest, stateDir: s.stateDir });
  expect(readRows(latest)).toEqual({ count: last, max: last, meta: last, integrity: 'ok' });
  expect(previous).toBeGreaterThan(0);
}

describe('snapshots of a database another process is writing', () => {
  it('are transaction-consistent in WAL mode', async () => {
    await snapshotUnderLoad('wal', 6);
  });

  it('are transaction-consistent in rollback-journal mode', async () => {
    await snapshotUnderLoad('delete', 4);
  });
});
