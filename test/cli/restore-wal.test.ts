import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SegmentKey } from '../../src/format/db-wal-keys.js';
import { ensureReplicaMarker } from '../../src/format/replica-marker.js';
import { FsStore } from '../../src/store/fs-store.js';
import { CountingStore } from '../sqlite/counting-store.js';
import { readRows } from '../sqlite/sqlite-fixtures.js';
import { corruptSegment, shipGeneration } from '../sqlite/wal/replica-fixtures.js';
import { runPersistd } from '../support/run-persistd.js';

// Runs the built CLI (`npm run build` first): a replica shipped by the WalShipper library, restored by `persistd restore`.
let dir: string;
let args: string[];
let store: CountingStore;
let generation: string;
let segments: SegmentKey[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'persistd-cli-wal-'));
  await mkdir(join(dir, 'replica'));
  store = new CountingStore(new FsStore(join(dir, 'replica')));
  await ensureReplicaMarker(store);
  const db = join(dir, 'data', 'app.db');
  await mkdir(join(dir, 'data'));
  ({ generation, segments } = await shipGeneration(store, {
    name: 'app.db',
    path: db,
    stateDir: join(dir, 'state'),
    segments: 3,
    rowsPerSegment: 10,
  }));
  args = ['--to', `file://${join(dir, 'replica')}`, '--db', db, '--state-dir', join(dir, 'state')];
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const out = (name: string): string => join(dir, 'out', name);

describe('persistd restore / snapshots / verify with WAL segments', () => {
  it('snapshots lists the generation with its WAL coverage', async () => {
    const text = await runPersistd(['snapshots', ...args]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`generation ${generation} (latest): WAL 3 segment(s)`);
    const json = await runPersistd(['snapshots', '--json', ...args]);
    const [entry] = JSON.parse(json.stdout) as Array<{
      latestGeneration: string;
      generations: Array<{ wal: { segments: number; lastShippedAt: string }; snapshots: unknown[] }>;
    }>;
    expect(entry!.latestGeneration).toBe(generation);
    expect(entry!.generations[0]).toMatchObject({
      wal: { segments: 3, lastShippedAt: segments[2]!.shippedAt.toISOString() },
      snapshots: [expect.anything()],
    });
  });

  it('restore applies the segments (latest, and --timestamp between segments); --generation with --snapshot is a usage error', async () => {
    const latest = await runPersistd(['restore', ...args, '-o', out('latest.db')]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.stdout).toMatch(/\+ 3 WAL segment\(s\) \(30 transaction\(s\)\)/);
    expect(latest.stdout).toContain(`as of ${segments[2]!.shippedAt.toISOString()}`);
    expect(readRows(out('latest.db'))).toEqual({ count: 30, max: 30, meta: 30, integrity: 'ok' });

    const between = await runPersistd([
      'restore',
      ...args,
      '-o',
      out('between.db'),
      '--timestamp',
      new Date(segments[2]!.shippedAt.getTime() - 1).toISOString(),
    ]);
    expect(between.code, between.stderr).toBe(0);
    expect(readRows(out('between.db')).count).toBe(20);

    const both = await runPersistd(['restore', ...args, '-o', out('both.db'), '--generation', generation, '--snapshot', 'x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--generation and --snapshot/);
    expect((await runPersistd(['restore', ...args, '-o', out('bad.db'), '--generation', 'not-a-generation'])).code).toBe(2);

    const verified = await runPersistd(['verify', ...args]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain('+ 3 WAL segment(s), 30 transaction(s)');
  });

  it('a corrupt segment: restore says INCOMPLETE and installs the state before it; a later --timestamp exits 1 and keeps the local file', async () => {
    await corruptSegment(store.inner, segments[1]!.key);
    const partial = await runPersistd(['restore', ...args, '-o', out('partial.db')]);
    expect(partial.code, partial.stderr).toBe(0);
    expect(partial.stdout).toContain('INCOMPLETE');
    expect(partial.stderr).toContain('WAL segment missing or damaged');
    expect(readRows(out('partial.db')).count).toBe(10);

    const before = await readFile(out('partial.db'));
    const later = await runPersistd([
      'restore',
      ...args,
      '-o',
      out('partial.db'),
      '--force',
      '--timestamp',
      segments[2]!.shippedAt.toISOString(),
    ]);
    expect(later.code).toBe(1);
    expect(later.stderr).toContain('does not verify');
    expect((await readFile(out('partial.db'))).equals(before)).toBe(true);
    expect((await runPersistd(['verify', ...args])).code).toBe(1);
  });
});
