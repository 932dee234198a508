import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PersistdError } from '../../src/errors.js';
import { restoreTree } from '../../src/files/restore-tree.js';
import { TreeSync } from '../../src/files/tree-sync.js';
import { restoreDatabase } from '../../src/sqlite/restore-database.js';
import { snapshotDatabase } from '../../src/sqlite/snapshot-database.js';
import type { FaultRule } from '../support/fault-proxy/fault-rules.js';
import { serverErrors } from '../support/fault-proxy/fault-rules.js';
import { rawS3Client } from '../support/test-s3.js';
import { diffTrees, removeAll, snapshotTree, tempDir } from '../files/helpers.js';
import { createDatabase } from '../sqlite/sqlite-fixtures.js';
import { digest, FAST_RETRY, proxiedBucket, rawObject, type ProxiedBucket } from './fault-fixtures.js';

let p: ProxiedBucket;
const dirs: string[] = [];
beforeAll(async () => {
  p = await proxiedBucket('higher-level');
});
afterAll(async () => {
  await p?.close();
  await removeAll(dirs);
});

/** 20% of all requests fail: 500 and 503 answers, resets before the answer, and an occasional latency spike. */
const TWENTY_PERCENT: FaultRule[] = [
  ...serverErrors(0.12),
  { fault: { kind: 'reset', when: 'before-response' }, share: 0.05 },
  { fault: { kind: 'latency', ms: 150 }, share: 0.03 },
];

/** Every row of every table, hashed in a stable order: equal digests mean row-for-row identical databases. */
function databaseDigest(path: string): { tables: Record<string, number>; sha256: string } {
  const db = new Database(path, { readonly: true });
  try {
    const hash = createHash('sha256');
    const tables: Record<string, number> = {};
    const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    for (const name of names) {
      const rows = db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).raw().all() as unknown[][];
      tables[name] = rows.length;
      for (const row of rows) hash.update(JSON.stringify(row, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v)));
    }
    return { tables, sha256: hash.digest('hex') };
  } finally {
    db.close();
  }
}

describe('persistd layers through 20% faults', () => {
  it('snapshotDatabase then restoreDatabase: the restored database is row-for-row identical', async () => {
    const { store } = p.open({}, { retry: FAST_RETRY });
    const [data, state, out] = await Promise.all([tempDir('hl-data'), tempDir('hl-state'), tempDir('hl-out')]);
    dirs.push(data, state, out);
    const path = join(data, 'app.db');
    createDatabase(path, 3_000);
    p.proxy.setRules(TWENTY_PERCENT);
    const first = await snapshotDatabase({ store, name: 'app', path, stateDir: state });
    expect(first.outcome).toBe('created');
    createDatabase(path, 500); // more rows, a second snapshot
    const second = await snapshotDatabase({ store, name: 'app', path, stateDir: state });
    expect(second.outcome).toBe('created');

    const target = join(out, 'app.db');
    const restored = await restoreDatabase({ store, name: 'app', target, stateDir: join(out, 'state') });
    expect(restored.restored).toBe(true);
    expect(databaseDigest(target)).toEqual(databaseDigest(path));
    expect(databaseDigest(target).tables.t).toBe(3_500);
    const injected = Object.values(p.proxy.stats().injected).reduce((a, b) => a + b, 0);
    expect(injected, `seed ${p.proxy.seed}`).toBeGreaterThan(0);
  });

  it('TreeSync.syncOnce uploads a small tree byte-identical (checked on the server directly), and restoreTree brings it back', async () => {
    const { store, backend } = p.open({}, { retry: FAST_RETRY });
    const [root, state, again, againState] = await Promise.all([
      tempDir('hl-tree'),
      tempDir('hl-tree-state'),
      tempDir('hl-again'),
      tempDir('hl-again-state'),
    ]);
    dirs.push(root, state, again, againState);
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 40; i++) files.set(`${['', 'a/', 'a/b/', 'vault/x y/'][i % 4]}file-${i}.bin`, randomBytes(100 + i * 523));
    for (const [rel, body] of files) {
      await mkdir(dirname(join(root, rel)), { recursive: true });
      await writeFile(join(root, rel), body);
    }
    p.proxy.setRules(TWENTY_PERCENT);
    const sync = new TreeSync({ store, name: 'uploads', root, stateDir: state, rescanIntervalMs: 0 });
    let status;
    try {
      status = await sync.syncOnce();
    } finally {
      await sync.stop();
    }
    expect(status.uploadedItems).toBe(files.size);
    expect(status.queued).toBe(0);

    const prefix = `${backend.prefix}files/uploads/`;
    const client = rawS3Client();
    const keys: string[] = [];
    try {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: p.bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? [])
          if (!o.Key!.slice(prefix.length).startsWith('.persistd/')) keys.push(o.Key!.slice(prefix.length));
        token = page.NextContinuationToken;
      } while (token !== undefined);
    } finally {
      client.destroy();
    }
    expect(keys.sort()).toEqual([...files.keys()].sort());
    for (const [rel, body] of files) expect(digest(await rawObject(p.bucket, prefix + rel)), rel).toBe(digest(body));

    await restoreTree({ store, name: 'uploads', root: again, stateDir: againState });
    expect(diffTrees(await snapshotTree(root), await snapshotTree(again))).toEqual([]);
    expect(p.proxy.stats().injected['error 500 InternalError'], `seed ${p.proxy.seed}`).toBeGreaterThan(0);
  });

  it('restoreDatabase whose snapshot body breaks: a clear error, nothing installed; the next attempt restores it', async () => {
    const { store } = p.open({}, { retry: FAST_RETRY });
    const [data, state, out] = await Promise.all([tempDir('hl-bdata'), tempDir('hl-bstate'), tempDir('hl-bout')]);
    dirs.push(data, state, out);
    const path = join(data, 'app.db');
    createDatabase(path, 2_000);
    p.proxy.setRules([]);
    expect((await snapshotDatabase({ store, name: 'broken', path, stateDir: state })).outcome).toBe('created');
    const target = join(out, 'app.db');
    for (const fault of [
      { kind: 'truncate', keepShare: 0.9 },
      { kind: 'reset', when: 'mid-body' },
    ] as const) {
      p.proxy.setRules([{ fault, operations: ['get-object'], key: /\.db\.(gz|zst)$/ }]);
      const err = await restoreDatabase({ store, name: 'broken', target, stateDir: join(out, 'state') }).then(
        () => undefined,
        (e: unknown) => e as PersistdError,
      );
      expect(err, JSON.stringify(fault)).toBeInstanceOf(PersistdError);
      expect(err!.kind).toBe('storage');
      expect(err!.message).toMatch(/cannot download snapshot/);
      expect(err!.hint).toMatch(/run the command again/);
      expect(existsSync(target)).toBe(false);
    }
    p.proxy.setRules([]);
    await restoreDatabase({ store, name: 'broken', target, stateDir: join(out, 'state') });
    expect(databaseDigest(target)).toEqual(databaseDigest(path));
  });
});
