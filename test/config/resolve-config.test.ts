import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ConfigInput } from '../../src/config/resolve-config.js';
import { PersistdError } from '../../src/errors.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function workdir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'persistd-config-'));
  made.push(dir);
  mkdirSync(path.join(dir, 'data'));
  return dir;
}

function resolve(partial: Partial<ConfigInput> & { cwd: string }) {
  return resolveConfig({ flags: {}, env: {}, ...partial });
}

function failure(fn: () => unknown): PersistdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PersistdError);
    return err as PersistdError;
  }
  throw new Error('expected an error');
}

describe('resolveConfig', () => {
  it('takes flags over environment over config file over defaults', () => {
    const cwd = workdir();
    writeFileSync(path.join(cwd, 'persistd.yml'), 'to: file:///from-file\nregion: file-region\nlog-level: warn\nconcurrency: 3\n');
    const config = resolve({
      cwd,
      configPath: 'persistd.yml',
      env: { PERSISTD_URL: 'file:///from-env', PERSISTD_LOG_LEVEL: 'debug' },
      flags: { to: 'file:///from-flag' },
    });
    expect(config.replica).toEqual({ scheme: 'file', root: '/from-flag', display: 'file:///from-flag' });
    expect(config.logLevel).toBe('debug');
    expect(config.concurrency).toBe(3);
    expect(config.sources).toMatchObject({ to: 'flag', logLevel: 'env PERSISTD_LOG_LEVEL', concurrency: 'config file' });
    expect(config.retentionMs).toBe(7 * 24 * 3600_000);
    expect(config.sources.retention).toBe('default');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.databases)).toBe(true);
  });

  it('reads lists from repeated flags, comma-separated env and YAML lists, relative to their origin', () => {
    const cwd = workdir();
    mkdirSync(path.join(cwd, 'conf'));
    mkdirSync(path.join(cwd, 'conf', 'uploads'));
    writeFileSync(path.join(cwd, 'conf', 'persistd.yml'), 'dirs: [./uploads]\n');
    const config = resolve({
      cwd,
      configPath: 'conf/persistd.yml',
      env: { PERSISTD_DBS: 'data/a.db, data/b.db' },
      flags: { files: ['data/tokens.json'] },
    });
    expect(config.databases).toEqual([
      { name: 'a.db', path: path.join(cwd, 'data/a.db') },
      { name: 'b.db', path: path.join(cwd, 'data/b.db') },
    ]);
    expect(config.directories).toEqual([{ name: 'uploads', path: path.join(cwd, 'conf/uploads') }]);
    expect(config.files).toEqual([{ name: 'tokens.json', path: path.join(cwd, 'data/tokens.json') }]);
  });

  it('expands ${VAR} and ${VAR:-default} in the config file', () => {
    const cwd = workdir();
    writeFileSync(path.join(cwd, 'p.yml'), 'to: s3://${BUCKET}/${APP:-myapp}\nendpoint: ${ENDPOINT}\n');
    const config = resolve({ cwd, configPath: 'p.yml', env: { BUCKET: 'bkt1', ENDPOINT: 'http://127.0.0.1:9000' } });
    expect(config.s3).toMatchObject({
      bucket: 'bkt1',
      prefix: 'myapp',
      endpoint: 'http://127.0.0.1:9000',
      provider: 'custom',
      forcePathStyle: true,
    });
  });

  it('accepts name=path to give two same-named targets distinct names', () => {
    const cwd = workdir();
    mkdirSync(path.join(cwd, 'a'));
    mkdirSync(path.join(cwd, 'a', 'uploads'));
    mkdirSync(path.join(cwd, 'uploads'));
    const config = resolve({ cwd, flags: { dirs: ['uploads', 'media=a/uploads'] } });
    expect(config.directories.map((dir) => dir.name)).toEqual(['uploads', 'media']);
  });

  it('detects Cloudflare R2 from R2_* variables alone', () => {
    const cwd = workdir();
    const config = resolve({
      cwd,
      env: { R2_ACCOUNT_ID: 'acc123', R2_ACCESS_KEY_ID: 'rk', R2_SECRET_ACCESS_KEY: 'rs', R2_BUCKET_NAME: 'bkt' },
    });
    expect(config.replica).toMatchObject({ scheme: 'r2', bucket: 'bkt', prefix: '' });
    expect(config.s3).toMatchObject({
      provider: 'r2',
      endpoint: 'https://acc123.r2.cloudflarestorage.com',
      region: 'auto',
      forcePathStyle: true,
    });
    expect(config.s3?.credentials).toEqual({ accessKeyId: 'rk', secretAccessKey: 'rs' });
  });

  it('maps gs:// to the GCS XML API with HMAC keys', () => {
    const config = resolve({
      cwd: workdir(),
      flags: { to: 'gs://bkt/pre/fix' },
      env: { GCS_HMAC_ACCESS_ID: 'GOOG1', GCS_HMAC_SECRET: 'sec' },
    });
    expect(config.s3).toMatchObject({
      provider: 'gcs',
      endpoint: 'https://storage.googleapis.com',
      prefix: 'pre/fix',
      credentialSource: 'environment (GCS_HMAC_ACCESS_ID, GCS_HMAC_SECRET)',
    });
  });

  it('uses AWS_ENDPOINT_URL_S3 and path-style for custom endpoints, virtual-hosted for AWS', () => {
    const custom = resolve({ cwd: workdir(), flags: { to: 's3://bkt' }, env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1/' } });
    expect(custom.s3).toMatchObject({ endpoint: 'http://127.0.0.1:1', forcePathStyle: true });
    const aws = resolve({ cwd: workdir(), flags: { to: 's3://bkt' }, env: { AWS_REGION: 'eu-west-1' } });
    expect(aws.s3).toMatchObject({ provider: 'aws', endpoint: undefined, forcePathStyle: false, region: 'eu-west-1' });
    expect(aws.s3?.credentialSource).toMatch(/default chain/);
  });

  it('run accepts a --db and --file whose directory does not exist yet (a fresh container: the restore creates it)', () => {
    const config = resolve({
      cwd: workdir(),
      flags: { dbs: ['instance/app.db'], files: ['security/tokens/admin.json'] },
      createParents: true,
    });
    expect(config.databases[0]?.path).toMatch(/instance\/app\.db$/);
    expect(config.files[0]?.path).toMatch(/security\/tokens\/admin\.json$/);
  });

  it('accepts durations and cron expressions as snapshot schedules', () => {
    expect(resolve({ cwd: workdir(), flags: { snapshotInterval: '15m' } }).snapshotSchedule).toBe('15m');
    expect(resolve({ cwd: workdir(), flags: { snapshotInterval: '0 2 * * *' } }).snapshotSchedule).toBe('0 2 * * *');
  });
});

describe('resolveConfig refuses bad input with a usage error and a hint', () => {
  const cases: Array<[string, (cwd: string) => Partial<ConfigInput>, RegExp]> = [
    ['a malformed URL', () => ({ flags: { to: 'not a url' } }), /has no scheme/],
    ['an unknown scheme', () => ({ flags: { to: 'ftp://host/x' } }), /unsupported replica URL scheme "ftp:\/\/"/],
    ['s3:// without a bucket', () => ({ flags: { to: 's3:///prefix' } }), /has no bucket/],
    ['credentials inside the URL', () => ({ flags: { to: 's3://AKIA:secret@bucket/x' } }), /must not contain credentials/],
    ['a relative file URL', () => ({ flags: { to: 'file://relative/path' } }), /file URL/],
    [
      'an unknown config key',
      (cwd) => {
        writeFileSync(path.join(cwd, 'c.yml'), 'too: s3://bkt\n');
        return { configPath: 'c.yml' };
      },
      /unknown setting "too"/,
    ],
    [
      'YAML that does not parse',
      (cwd) => {
        writeFileSync(path.join(cwd, 'c.yml'), 'to: [unclosed\n');
        return { configPath: 'c.yml' };
      },
      /not valid YAML/,
    ],
    ['a missing config file', () => ({ configPath: 'nope.yml' }), /does not exist/],
    [
      'an unset ${VAR}',
      (cwd) => {
        writeFileSync(path.join(cwd, 'c.yml'), 'to: s3://${NOPE_NOT_SET}\n');
        return { configPath: 'c.yml' };
      },
      /\$\{NOPE_NOT_SET\}.*is not set/,
    ],
    ['the same path twice', () => ({ flags: { dbs: ['data/a.db', './data/a.db'] } }), /given twice/],
    [
      'a --dir inside another --dir',
      (cwd) => {
        mkdirSync(path.join(cwd, 'data', 'inner'));
        return { flags: { dirs: ['data', 'data/inner'] } };
      },
      /is inside --dir/,
    ],
    ['a --db whose directory does not exist', () => ({ flags: { dbs: ['missing/app.db'] } }), /directory of --db .* does not exist/],
    [
      'a --db under a file (run)',
      (cwd) => {
        writeFileSync(path.join(cwd, 'data', 'f'), 'x');
        return { flags: { dbs: ['data/f/sub/app.db'] }, createParents: true };
      },
      /cannot be created: .*data\/f is a file/,
    ],
    [
      'a --db that is not SQLite',
      (cwd) => {
        writeFileSync(path.join(cwd, 'data', 'x.db'), 'hello, not sqlite');
        return { flags: { dbs: ['data/x.db'] } };
      },
      /is not a SQLite database/,
    ],
    [
      'a --dir that is a file',
      (cwd) => {
        writeFileSync(path.join(cwd, 'data', 'f'), 'x');
        return { flags: { dirs: ['data/f'] } };
      },
      /is a file, not a directory/,
    ],
    [
      'two dirs with one name',
      (cwd) => {
        mkdirSync(path.join(cwd, 'x'));
        mkdirSync(path.join(cwd, 'x', 'data'));
        return { flags: { dirs: ['data', 'x/data'] } };
      },
      /would both be stored as "data"/,
    ],
    ['a bad duration', () => ({ flags: { retention: 'forever' } }), /is not a duration/],
    ['a bad schedule', () => ({ flags: { snapshotInterval: 'every now and then' } }), /neither a duration nor a cron/],
    ['a bad log level', () => ({ flags: { logLevel: 'loud' } }), /unknown log level/],
    ['a bad concurrency', () => ({ flags: { concurrency: '0' } }), /not a whole number/],
    [
      'an r2:// without account',
      () => ({ flags: { to: 'r2://bkt' }, env: { R2_ACCESS_KEY_ID: 'a', R2_SECRET_ACCESS_KEY: 'b' } }),
      /needs the Cloudflare account/,
    ],
    [
      'a key id without its secret',
      () => ({ flags: { to: 's3://bkt' }, env: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' } }),
      /AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not/,
    ],
    [
      'an endpoint that is not a URL',
      () => ({ flags: { to: 's3://bkt', endpoint: 'localhost:9000' } }),
      /must be http:\/\/ or https:\/\/|is not a URL/,
    ],
  ];
  for (const [name, make, message] of cases) {
    it(name, () => {
      const cwd = workdir();
      const input = make(cwd);
      const err = failure(() => resolve({ cwd, ...input }));
      expect(err.kind).toBe('usage');
      expect(err.message).toMatch(message);
      expect(err.hint).toBeTruthy();
    });
  }
});
