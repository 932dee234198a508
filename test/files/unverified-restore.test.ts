// A file:// replica is a plain folder tree: another tool can change an object in place. Its stored checksum
// then no longer describes it, so a restore can check the size only: it must say so (UNVERIFIED), for
// directories and loose files, and never present such a file as verified.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';
import { tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
afterAll(removeAll);

describe('restore of objects changed in place by another tool (file://)', () => {
  it('restores them and reports them UNVERIFIED; untouched objects stay verified', async () => {
    const [bucket, app, fresh2] = [await fresh('bucket'), await fresh('app'), await fresh('app2')];
    await mkdir(join(app, 'uploads'), { recursive: true });
    await writeFile(join(app, 'uploads', 'a.txt'), 'original a\n');
    await writeFile(join(app, 'uploads', 'b.txt'), 'original b\n');
    await writeFile(join(app, 'tokens.json'), '{"token":"original"}\n');
    const target = (root: string): string[] => [
      '--to',
      pathToFileURL(bucket).href,
      '--dir',
      join(root, 'uploads'),
      '--file',
      join(root, 'tokens.json'),
      '--state-dir',
      join(root, 'state'),
    ];
    const backup = await runPersistd(['backup', ...target(app)]);
    expect(backup.code, backup.stderr).toBe(0);

    // Another tool rewrites two objects in the replica folder (same paths, new content).
    await writeFile(join(bucket, 'files', 'uploads', 'a.txt'), 'edited by hand, longer\n');
    const looseObject = join(bucket, 'files', '_loose', 'tokens.json');
    await writeFile(looseObject, '{"token":"edited"}\n');

    const restore = await runPersistd(['restore', ...target(fresh2)]);
    expect(restore.code, restore.stderr).toBe(0);
    const output = restore.stdout + restore.stderr;
    expect(output).toMatch(/1 UNVERIFIED .*first: a\.txt/);
    expect(output).toMatch(/tokens\.json.*UNVERIFIED|UNVERIFIED.*tokens/s);
    expect(await readFile(join(fresh2, 'uploads', 'a.txt'), 'utf8')).toBe('edited by hand, longer\n');
    expect(await readFile(join(fresh2, 'uploads', 'b.txt'), 'utf8')).toBe('original b\n');
    expect(await readFile(join(fresh2, 'tokens.json'), 'utf8')).toBe('{"token":"edited"}\n');
  }, 60_000);
});
