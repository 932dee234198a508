// Scenario (issue #7, item 4b): a Node app with per-task upload folders (uploads/<taskId>/...) that it creates
// and deletes while it runs. After a lost container the live folders come back exactly, deleted ones stay
// gone (their files are in the replica's trash, as docs/FORMAT.md "Sync and deletes" promises), and they are
// not resurrected by later deploys either.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Container } from './support/container.js';
import { fileReplica } from './support/replicas.js';
import { databaseRows, fileDigests } from './support/state.js';

const APP = [process.execPath, fileURLToPath(new URL('./fixtures/task-app.mjs', import.meta.url))];

describe('scenario: Node app with per-task upload folders', () => {
  it('restores the live task folders exactly; deleted folders stay deleted (in the trash, not in the live tree)', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'persistd-scenario-tasks-'));
    const replica = fileReplica(path.join(base, 'replica'));
    const box = new Container({
      root: path.join(base, 'container'),
      imageDirs: ['data'],
      replica,
      targets: ['--db', 'data/tasks.db', '--dir', 'uploads'],
    });

    const first = box.deploy(APP);
    expect((await first.ready()).rest).toBe('tasks=0 folders=');
    await first.request('create t1 3');
    await first.request('create t2 2');
    await first.request('create t3 1');
    await first.request('finish t1');
    await first.request('create t4 2');
    await first.request('delete t2'); // deleted shortly after its files were created
    await first.request('finish t4');
    await first.request('delete t3'); // and one deleted right before the stop
    expect(await first.request('list')).toBe('t1,t4');
    const stopped = await first.stop();
    expect(stopped.code).toBe(0);
    expect(first.output.stderr).toContain('final backup complete');
    const uploads = fileDigests(box.path('uploads'));
    const rows = databaseRows(box.path('data/tasks.db'));
    expect(Object.keys(uploads).every((p) => p.startsWith('t1/') || p.startsWith('t4/'))).toBe(true);

    // The replica's live tree holds exactly the live folders; what was deleted after being backed up is in the trash.
    const live = (await replica.keys('files/uploads/')).filter((key) => !key.startsWith('files/uploads/.persistd/'));
    expect(live).toEqual(
      Object.keys(uploads)
        .map((p) => `files/uploads/${p}`)
        .sort(),
    );
    const trashed = (await replica.keys('files/uploads/.persistd/trash/')).map((key) => key.split('/').slice(5).join('/'));
    expect(trashed.every((p) => p.startsWith('t2/') || p.startsWith('t3/'))).toBe(true);

    box.lose();
    const second = box.deploy(APP);
    expect((await second.ready()).rest).toBe('tasks=2 folders=t1,t4');
    expect(fileDigests(box.path('uploads'))).toEqual(uploads);
    expect(databaseRows(box.path('data/tasks.db'))).toEqual(rows);
    // Used again: one more task is created and t1 deleted; then a third container.
    await second.request('create t5 1');
    await second.request('delete t1');
    expect((await second.stop()).code).toBe(0);
    const uploadsAfterSecond = fileDigests(box.path('uploads'));
    // t1 was backed up, so its deletion left a trash copy of every file (keep-deleted, default 7d).
    const trashedNow = (await replica.keys('files/uploads/.persistd/trash/')).map((key) => key.split('/').slice(5).join('/'));
    expect(trashedNow.filter((p) => p.startsWith('t1/')).sort()).toEqual(
      Object.keys(uploads)
        .filter((p) => p.startsWith('t1/'))
        .sort(),
    );

    box.lose();
    const third = box.deploy(APP);
    expect((await third.ready()).rest).toBe('tasks=2 folders=t4,t5');
    expect(fileDigests(box.path('uploads'))).toEqual(uploadsAfterSecond);
    expect((await third.stop()).code).toBe(0);
  });
});
