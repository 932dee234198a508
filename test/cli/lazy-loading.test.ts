import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const url = (file: string): string => pathToFileURL(`${ROOT}${file}`).href;
/** Packages no short command and no first request of `run` needs (issue 14: fast start). */
const HEAVY = ['better-sqlite3', 'zstd-napi', 'pino-pretty', 'yaml'];

/**
 * Runs `body` (ES module code) in a fresh Node process (built dist/) and returns the npm packages it
 * had loaded through require when it exited: the AWS SDK, better-sqlite3, zstd-napi, pino-pretty and
 * yaml are CommonJS, so require's cache names them whoever loaded them.
 */
function packagesLoadedBy(body: string): string[] {
  const script = `
    import { createRequire } from 'node:module';
    const cache = createRequire(${JSON.stringify(url('package.json'))}).cache;
    process.on('exit', () => {
      const names = new Set(Object.keys(cache).map((file) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file)?.[1]).filter(Boolean));
      process.stderr.write('LOADED ' + JSON.stringify([...names]) + '\\n');
    });
    ${body}`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const line = /^LOADED (.*)$/m.exec(result.stderr);
  if (!line) throw new Error(`no LOADED line (exit ${result.status}): ${result.stderr}`);
  return JSON.parse(line[1]!) as string[];
}

function cli(args: string[]): string {
  return `process.argv = [process.argv[0], ${JSON.stringify(`${ROOT}bin/persistd.js`)}, ...${JSON.stringify(args)}];
    await import(${JSON.stringify(url('bin/persistd.js'))});`;
}

describe('what the CLI loads', () => {
  it.each(['version', '--help', 'restore --help', 'run --help'])(
    'persistd %s loads neither the AWS SDK nor the heavy packages',
    (command) => {
      const loaded = packagesLoadedBy(cli(command.split(' ')));
      expect(loaded).toContain('commander'); // the check sees CommonJS packages
      for (const name of [...HEAVY, '@aws-sdk/client-s3']) expect(loaded).not.toContain(name);
    },
  );

  it('run loads the restore, the engine and the databases after its first request is sent, not before', () => {
    const before = packagesLoadedBy(`await import(${JSON.stringify(url('dist/commands/run.js'))});`);
    expect(before).toContain('pino'); // the check sees CommonJS packages (the AWS SDK loads with the S3 store: next test)
    for (const name of HEAVY) expect(before).not.toContain(name);
    const after = packagesLoadedBy(`await (await import(${JSON.stringify(url('dist/commands/run-modules.js'))})).runModules();`);
    expect(after).toContain('better-sqlite3');
    expect(after).toContain('zstd-napi');
  });

  it('a file:// replica opens without the AWS SDK; an S3 one loads it', () => {
    const open = (target: string): string =>
      `const { openStore } = await import(${JSON.stringify(url('dist/store/open-store.js'))}); openStore(${target}).close();`;
    expect(packagesLoadedBy(open(`{ kind: 'fs', root: ${JSON.stringify(`${ROOT}tmp/lazy-loading`)} }`))).not.toContain(
      '@aws-sdk/client-s3',
    );
    expect(packagesLoadedBy(open(`{ kind: 's3', bucket: 'b', prefix: '', region: 'us-east-1', forcePathStyle: true }`))).toContain(
      '@aws-sdk/client-s3',
    );
  });
});
