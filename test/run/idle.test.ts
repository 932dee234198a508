import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { startPersistd } from './persistd-process.js';
import { fileListing } from '../support/file-listing.js';

describe('persistd run when nothing changes', () => {
  it('writes nothing to the replica over many sync and snapshot intervals, then ships a change and compacts it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'persistd-idle-'));
    mkdirSync(path.join(dir, 'data'));
    mkdirSync(path.join(dir, 'uploads'));
    const dbPath = path.join(dir, 'data', 'app.db');
    const db = new Database(dbPath);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (v TEXT)');
    db.prepare('INSERT INTO t VALUES (?)').run('first');
    const replica = path.join(dir, 'replica');
    const run = startPersistd(
      [
        'run',
        '--to',
        `file://${replica}`,
        '--db',
        dbPath,
        '--dir',
        path.join(dir, 'uploads'),
        '--state-dir',
        path.join(dir, 'state'),
        '--snapshot-interval',
        '1s',
        '--',
        process.execPath,
        '-e',
        'setInterval(() => {}, 1000)',
      ],
      { PERSISTD_LOG_LEVEL: 'info' },
    );
    const until = (what: () => boolean, label: string): Promise<void> => run.until(what, label);
    const snapshotsStored = (): number =>
      run
        .stderr()
        .split('\n')
        .filter((line) => line.includes('snapshot stored') || line.includes('new generation started')).length;
    const walSegments = (): number =>
      fileListing(replica).filter((line) => /\/wal\/.*\.wal\.gz /.test(line) && !line.startsWith('.persistd-meta')).length;
    // The generation's first snapshot, then count how many sync and snapshot intervals pass with nothing written.
    await until(() => snapshotsStored() === 1 && run.stderr().includes('took the lineage pointer'), 'the first snapshot');
    const before = fileListing(replica);
    const intervalsSeen = (): number => run.stderr().split('\n').length;
    const start = Date.now();
    await until(() => Date.now() - start > 3500, 'three snapshot intervals');
    expect(fileListing(replica)).toEqual(before);
    expect(snapshotsStored()).toBe(1);
    expect(intervalsSeen()).toBeGreaterThan(0);

    db.prepare('INSERT INTO t VALUES (?)').run('second');
    db.close();
    // The change is shipped as a WAL segment within a sync interval, and the next scheduled snapshot compacts it.
    await until(() => walSegments() === 1, 'a WAL segment with the change');
    await until(() => snapshotsStored() === 2, 'a snapshot of the change');
    expect(fileListing(replica)).not.toEqual(before);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(143);
  });
});
