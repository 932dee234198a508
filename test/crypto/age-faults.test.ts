// The fault suite with encryption on: through a proxy that fails 20% of requests, and with GET bodies that
// break or are cut short, an encrypted replica restores exactly or fails clearly, never with other bytes.
import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateIdentity, parseIdentity } from '../../src/crypto/age-keys.js';
import { restoreTree } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { ensureReplicaMarker } from '../../src/format/replica-marker.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import type { AgeKeys } from '../../src/store/age-store.js';
import type { Fault, FaultRule } from '../support/fault-proxy/fault-rules.js';
import { serverErrors } from '../support/fault-proxy/fault-rules.js';
import { diffTrees, removeAll, snapshotTree, tempDir } from '../files/helpers.js';
import { createDatabase } from '../sqlite/sqlite-fixtures.js';
import { caught, digest, FAST_RETRY, proxiedBucket, readAll, type ProxiedBucket } from '../faults/fault-fixtures.js';

let p: ProxiedBucket;
const dirs: string[] = [];
const identity = parseIdentity(generateIdentity().secret);
const age: AgeKeys = { recipients: [identity.recipient], identities: [identity] };
beforeAll(async () => {
  p = await proxiedBucket('age-faults');
  await ensureReplicaMarker(p.open({}, { age }).store);
});
afterAll(async () => {
  await p?.close();
  await removeAll(dirs);
});
beforeEach(() => p.proxy.setRules([]));

const TWENTY_PERCENT: FaultRule[] = [
  ...serverErrors(0.12),
  { fault: { kind: 'reset', when: 'before-response' }, share: 0.05 },
  { fault: { kind: 'latency', ms: 150 }, share: 0.03 },
];

function rowsDigest(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return createHash('sha256')
      .update(JSON.stringify(db.prepare('SELECT * FROM t ORDER BY rowid').raw().all()))
      .digest('hex');
  } finally {
    db.close();
  }
}

describe('an encrypted replica through faults', () => {
  it('snapshotDatabase then restoreDatabase through 20% faults: row-for-row identical', async () => {
    const { store } = p.open({}, { retry: FAST_RETRY, age });
    const [data, state, out] = await Promise.all([tempDir('agef-data'), tempDir('agef-state'), tempDir('agef-out')]);
    dirs.push(data, state, out);
    const path = join(data, 'app.db');
    createDatabase(path, 3_000);
    p.proxy.setRules(TWENTY_PERCENT);
    expect((await snapshotDatabase({ store, name: 'app', path, stateDir: state })).outcome).toBe('created');
    const target = join(out, 'app.db');
    expect((await restoreDatabase({ store, name: 'app', target, stateDir: join(out, 'state') })).restored).toBe(true);
    expect(rowsDigest(target)).toBe(rowsDigest(path));
    expect(
      Object.values(p.proxy.stats().injected).reduce((a, b) => a + b, 0),
      `seed ${p.proxy.seed}`,
    ).toBeGreaterThan(0);
  });

  it('TreeSync.syncOnce and restoreTree through 20% faults: the tree comes back identical', async () => {
    const { store } = p.open({}, { retry: FAST_RETRY, age });
    const [root, state, again, againState] = await Promise.all([
      tempDir('agef-tree'),
      tempDir('agef-ts'),
      tempDir('agef-again'),
      tempDir('agef-as'),
    ]);
    dirs.push(root, state, again, againState);
    for (let i = 0; i < 30; i++) {
      const rel = `${['', 'a/', 'vault/x y/'][i % 3]}file-${i}.bin`;
      await mkdir(dirname(join(root, rel)), { recursive: true });
      await writeFile(join(root, rel), randomBytes(100 + i * 5_000));
    }
    p.proxy.setRules(TWENTY_PERCENT);
    const sync = new TreeSync({ store, name: 'uploads', root, stateDir: state, rescanIntervalMs: 0 });
    try {
      expect((await sync.syncOnce()).uploadedItems).toBe(30);
    } finally {
      await sync.stop();
    }
    await restoreTree({ store, name: 'uploads', root: again, stateDir: againState });
    expect(diffTrees(await snapshotTree(root), await snapshotTree(again))).toEqual([]);
  });

  const BODY_FAULTS: Fault[] = [
    { kind: 'reset', when: 'mid-body' },
    { kind: 'truncate', keepShare: 0.5 },
    { kind: 'truncate', keepShare: 0.999 },
  ];
  for (const fault of BODY_FAULTS) {
    it(`a GET whose body breaks (${JSON.stringify(fault)}) fails; it never ends with other bytes`, async () => {
      const { store } = p.open({}, { age });
      const body = randomBytes(300_000);
      await store.put('files/t/obj.bin', body);
      p.proxy.setRules([{ fault, operations: ['get-object'], limit: 1 }]);
      await caught(async () => readAll(await store.get('files/t/obj.bin')));
      p.proxy.setRules([]);
      expect(digest(await readAll(await store.get('files/t/obj.bin')))).toBe(digest(body));
    });
  }

  it('a ranged read whose body is cut at a chunk boundary fails (the last chunk flag catches it)', async () => {
    const { store } = p.open({}, { age });
    const body = randomBytes(5 * 65_536);
    await store.put('files/t/ranged.bin', body);
    const full = await readAll(await store.get('files/t/ranged.bin', { range: { start: 10, end: body.length - 1 } }));
    expect(full.equals(body.subarray(10))).toBe(true);
    p.proxy.setRules([{ fault: { kind: 'truncate', keepShare: 0.8 }, operations: ['get-object'], limit: 2 }]);
    await caught(async () => readAll(await store.get('files/t/ranged.bin', { range: { start: 10, end: body.length - 1 } })));
  });
});
