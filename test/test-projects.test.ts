import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDirs } from './files/helpers.js';
import { classifyTestFiles } from './test-projects.js';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const temp = tempDirs();
afterAll(temp.removeAll);

/** Writes `files` (path under the root → text) into a fresh directory and returns it. */
async function tree(files: Record<string, string>): Promise<string> {
  const root = await temp.fresh('projects');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('the unit / integration split of the test files (test/test-projects.ts)', () => {
  it('puts a file in "integration" when a helper it imports, at any depth, imports the S3 support', async () => {
    const root = await tree({
      'test/support/test-s3.ts': "import { inject } from 'vitest';\n",
      'test/a/fixtures.ts': "export * from './deeper.js';\n",
      'test/a/deeper.ts': "import { testS3 } from '../support/test-s3.js';\n",
      'test/a/uses-s3.test.ts': "import { x } from './fixtures.js';\n",
      'test/a/dynamic.test.ts': "const m = await import('../support/s3-server/rgw.js');\n",
      'test/support/s3-server/rgw.ts': '',
      'test/a/cli.test.ts': `const bin = new URL('../../${'bin'}/persistd.js', import.meta.url);\n`, // spelled apart: this file is a unit test
      'test/a/pure.test.ts': "import { FsStore } from '../../src/store/fs-store.js';\nimport { pollUntil } from '../support/poll.js';\n",
      'test/support/poll.ts': "import { setTimeout } from 'node:timers/promises';\n",
      'test/a/cycle.test.ts': "import './one.js';\n",
      'test/a/one.ts': "import './two.js';\n",
      'test/a/two.ts': "import './one.js';\n",
    });
    const { unit, integration, reasons } = classifyTestFiles(root);
    expect(unit).toEqual(['test/a/cycle.test.ts', 'test/a/pure.test.ts']);
    expect(integration).toEqual(['test/a/cli.test.ts', 'test/a/dynamic.test.ts', 'test/a/uses-s3.test.ts']);
    expect(reasons.get('test/a/uses-s3.test.ts')).toMatch(/^a\/uses-s3\.test\.ts → a\/fixtures\.ts → a\/deeper\.ts → support\/test-s3\.ts/);
  });

  it('on this repository: every test file is in exactly one project, and no unit file imports the S3 or age support', () => {
    const { unit, integration } = classifyTestFiles(ROOT);
    expect(unit.length).toBeGreaterThan(20);
    expect(integration).toContain('test/store/s3-store.test.ts');
    expect(unit).toContain('test/store/fs-store.test.ts');
    expect(unit).toContain('test/test-projects.test.ts');
    expect(unit.filter((file) => integration.includes(file))).toEqual([]);
    // Checked on the text, independently of the classifier's import walk: the direct imports of a unit file.
    const needsServer = /(support\/(test-s3|cli-replicas|ensure-age-installed|run-persistd)|fault-proxy\/|s3-server\/)|\binject\(/;
    const offenders = unit
      .filter((file) => file !== 'test/test-projects.test.ts') // its fixtures spell those paths
      .filter((file) => needsServer.test(readFileSync(join(ROOT, file), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
