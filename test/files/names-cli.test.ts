// The CLI side of file names on a real S3 server: `persistd backup` used to say "15 file(s) uploaded, 15 in the
// replica" and exit 0 while names that are not UTF-8 were never looked at; a restore of more than 10 files printed
// a MaxListenersExceededWarning. A name S3 cannot hold (a key past 1024 bytes) is reported and the backup is partial.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, testS3 } from '../support/test-s3.js';
import { tempDirs } from './helpers.js';

const { fresh, removeAll } = tempDirs();
let bucket: string;
beforeAll(async () => {
  bucket = await createTestBucket('names-cli');
});
afterAll(removeAll);

function env(): NodeJS.ProcessEnv {
  const s3 = testS3();
  return {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    PERSISTD_S3_ENDPOINT: s3.endpoint,
    AWS_REGION: s3.region,
  };
}

const raw = (latin1: string): Buffer => Buffer.from(latin1, 'latin1');

describe('persistd backup and restore of odd names (CLI, S3)', () => {
  it('stores every name, restores them all without a MaxListeners warning, and reports a name too long for S3 (exit 3)', async () => {
    const app = await fresh('app');
    const uploads = join(app, 'uploads');
    await mkdir(join(uploads, 'many'), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(join(uploads, 'many', `f${i}.txt`), `file ${i}\n`.repeat(100));
    const odd = [raw('caf\xe9.txt'), raw('dir-\xff'), Buffer.from('back\\slash.txt')];
    await writeFile(Buffer.concat([Buffer.from(`${uploads}/`), odd[0]!]), 'latin-1 name\n');
    await mkdir(Buffer.concat([Buffer.from(`${uploads}/`), odd[1]!]));
    await writeFile(Buffer.concat([Buffer.from(`${uploads}/`), odd[1]!, Buffer.from('/inner.txt')]), 'in a folder with a non-UTF-8 name\n');
    await writeFile(Buffer.concat([Buffer.from(`${uploads}/`), odd[2]!]), 'backslash\n');
    const target = (root: string): string[] => [
      '--to',
      `s3://${bucket}/app`,
      '--dir',
      join(root, 'uploads'),
      '--state-dir',
      join(root, 'state'),
    ];

    const backup = await runPersistd(['backup', ...target(app)], { env: env(), cwd: app });
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/43 file\(s\) uploaded .*43 in the replica/);

    const restored = await fresh('restored');
    const restore = await runPersistd(['restore', ...target(restored)], { env: env(), cwd: restored });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout + restore.stderr).not.toMatch(/MaxListenersExceeded/);
    expect(restore.stdout).toMatch(/43 file\(s\) restored/);
    const names = (await readdir(join(restored, 'uploads'), { encoding: 'buffer' })).map((n) => n.toString('hex')).sort();
    expect(names).toEqual([...odd, Buffer.from('many')].map((n) => n.toString('hex')).sort());
    expect(await readFile(Buffer.concat([Buffer.from(`${restored}/uploads/`), odd[1]!, Buffer.from('/inner.txt')]), 'utf8')).toBe(
      'in a folder with a non-UTF-8 name\n',
    );

    // Four 250-byte folders: a key past S3's 1024 bytes. Reported by name, everything else stored, exit 3.
    const deep = join(uploads, ...Array.from({ length: 4 }, (_, i) => `${i}${'d'.repeat(249)}`));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, 'too-deep.txt'), 'no S3 key can hold this path\n');
    await writeFile(join(uploads, 'next.txt'), 'stored anyway\n');
    const partial = await runPersistd(['backup', ...target(app)], { env: env(), cwd: app });
    expect(partial.code, partial.stdout + partial.stderr).toBe(3);
    expect(partial.stdout + partial.stderr).toMatch(/1 file\(s\) failed to upload .*too-deep\.txt/);
    expect(partial.stdout + partial.stderr).toMatch(/1 file\(s\) uploaded/);
  }, 120_000);
});
