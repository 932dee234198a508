// Scenario (issue #7, item 4c): an app that seeds default rows into a fresh database on first start. The
// restore runs before the app starts, so after a lost container the app finds its restored data, does not
// seed, and nothing the user changed (an edited default, a deleted default, renamed admin) is overwritten.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Container } from './support/container.js';
import { fileReplica } from './support/replicas.js';
import { databaseRows } from './support/state.js';

const APP = [process.execPath, fileURLToPath(new URL('./fixtures/seed-app.mjs', import.meta.url))];

describe('scenario: an app that seeds a fresh database on first start', () => {
  it('finds the restored data after a lost container: the seed does not run and does not overwrite it', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'persistd-scenario-seed-'));
    const box = new Container({
      root: path.join(base, 'container'),
      imageDirs: ['data'],
      replica: fileReplica(path.join(base, 'replica')),
      targets: ['--db', 'data/app.db'],
    });

    const first = box.deploy(APP);
    expect((await first.ready()).rest).toBe('seeded=true settings=4');
    await first.request('set theme dark');
    await first.request('unset signup');
    await first.request('set plan team');
    await first.request('rename admin root');
    await first.request('adduser ada editor');
    expect((await first.stop()).code).toBe(0);
    const before = databaseRows(box.path('data/app.db'));
    expect(before.settings).toEqual([
      { key: 'theme', value: 'dark' },
      { key: 'locale', value: 'en' },
      { key: 'plan', value: 'team' },
    ]);

    box.lose();
    const second = box.deploy(APP);
    expect((await second.ready()).rest).toBe('seeded=false settings=3');
    expect(databaseRows(box.path('data/app.db'))).toEqual(before);
    await second.request('set locale de');
    expect((await second.stop()).code).toBe(0);
    const afterSecond = databaseRows(box.path('data/app.db'));

    // A third container: the restore brings the second run's change, still no seed.
    box.lose();
    const third = box.deploy(APP);
    expect((await third.ready()).rest).toBe('seeded=false settings=3');
    expect(databaseRows(box.path('data/app.db'))).toEqual(afterSecond);
    expect((afterSecond.settings as Array<{ key: string; value: string }>).find((row) => row.key === 'locale')?.value).toBe('de');
    expect((await third.stop()).code).toBe(0);
  });
});
