// Bad-input corpus (issue #7, item 5): every user-facing input persistd reads (flags, environment, config
// file, replica URLs, target specs, remote objects and keys), each bad in one way, run through the real CLI
// (dist/). Each row states the exit code (README "Exit codes") and a fragment of the message, and ends with
// the check that the local data (a SQLite database, an uploads tree, a token file) is byte-for-byte unchanged.
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured } from '../support/child-process.js';
import { runPersistd } from '../support/run-persistd.js';
import { createTestBucket, rawS3Client, testS3 } from '../support/test-s3.js';
import { bytes, digestTree, writeAppData } from './local-data.js';

/** One row's sandbox: `root/work` is the app's working directory with its data; the replica lives outside root. */
interface Sandbox {
  root: string;
  work: string;
  replicaDir: string;
  replicaUrl: string;
  /** The S3 bucket (with keys that try to escape the tree) shared by the rows that need it. */
  evilBucket: string;
}

interface Row {
  name: string;
  args: (box: Sandbox) => string[];
  env?: (box: Sandbox) => Record<string, string>;
  /** Start from a copy of the template replica (one backup of other data), then damage it here. */
  remote?: (box: Sandbox) => void;
  /** Files to write in root before the run (config files), relative to root/work. */
  files?: Record<string, string>;
  code: number;
  message: RegExp;
  /** Why this row is expected to fail today (bug in a part of the tree this test does not own). */
  knownBug?: string;
}

const R = (box: Sandbox): string[] => ['--to', box.replicaUrl];
const evilReplica = (box: Sandbox): string[] => [
  '--to',
  `s3://${box.evilBucket}/app`,
  '--endpoint',
  testS3().endpoint,
  '--region',
  testS3().region,
];
const s3Env = (): Record<string, string> => ({ AWS_ACCESS_KEY_ID: testS3().accessKeyId, AWS_SECRET_ACCESS_KEY: testS3().secretAccessKey });
const ALL = ['--db', 'data/app.db', '--dir', 'uploads', '--file', 'security/tokens.json'];
const LOCAL = {
  rows: ['local row 1', 'local row 2'],
  extra: { 'local-only.txt': Buffer.from('only here\n') },
  tokens: '{"local":"token"}\n',
};
const REMOTE = {
  rows: ['remote row 1', 'remote row 2', 'remote row 3'],
  extra: { 'vault/u2/b.pdf': bytes('remote-only vault file', 30_000) },
  tokens: '{"remote":"token"}\n',
};

/** Every manifest / data object of the template's single snapshot, as paths inside a replica dir. */
function snapshotFiles(replicaDir: string): { manifest: string; data: string } {
  const gens = path.join(replicaDir, 'db', 'app.db', 'gen');
  const [generation] = readdirSync(gens);
  const snap = path.join(gens, generation!, 'snap');
  const manifest = readdirSync(snap).find((name) => name.endsWith('.json'))!;
  return { manifest: path.join(snap, manifest), data: path.join(snap, manifest.replace(/\.json$/, '.db.zst')) };
}

function editManifest(box: Sandbox, change: (manifest: Record<string, any>) => void): void {
  const { manifest } = snapshotFiles(box.replicaDir);
  const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, any>;
  change(parsed);
  writeFileSync(manifest, JSON.stringify(parsed));
}

const ROWS: Row[] = [
  // ---- flags
  { name: 'unknown flag', args: (b) => ['backup', ...R(b), ...ALL, '--bogus'], code: 2, message: /unknown option '--bogus'/ },
  { name: 'unknown command', args: () => ['frobnicate'], code: 2, message: /unknown command 'frobnicate'/ },
  { name: 'flag without its value', args: (b) => ['backup', ...R(b), '--db'], code: 2, message: /option '--db <path>' argument missing/ },
  {
    name: 'bad duration',
    args: (b) => ['backup', ...R(b), ...ALL, '--retention', '5x'],
    code: 2,
    message: /--retention "5x" is not a duration/,
  },
  {
    name: 'zero duration',
    args: (b) => ['backup', ...R(b), ...ALL, '--retention', '0s'],
    code: 2,
    message: /--retention "0s" must be longer than 0/,
  },
  {
    name: 'negative duration',
    args: (b) => ['run', ...R(b), ...ALL, '--keep-deleted', '-1d', '--', 'true'],
    code: 2,
    message: /--keep-deleted "-1d" is not a duration/,
  },
  {
    name: 'cron with an out-of-range minute',
    args: (b) => ['run', ...R(b), ...ALL, '--snapshot-interval', '61 * * * *', '--', 'true'],
    code: 2,
    message: /--snapshot-interval "61 \* \* \* \*".*neither a duration nor a cron expression/,
  },
  {
    name: 'cron with four fields',
    args: (b) => ['run', ...R(b), ...ALL, '--snapshot-interval', '0 2 * *', '--', 'true'],
    code: 2,
    message: /neither a duration nor a cron expression/,
  },
  {
    name: 'snapshot interval under 1s',
    args: (b) => ['run', ...R(b), ...ALL, '--snapshot-interval', '500ms', '--', 'true'],
    code: 2,
    message: /shorter than 1s/,
  },
  {
    name: 'zero concurrency',
    args: (b) => ['backup', ...R(b), ...ALL, '--concurrency', '0'],
    code: 2,
    message: /--concurrency "0" is not a whole number from 1 to 256/,
  },
  {
    name: 'negative concurrency',
    args: (b) => ['backup', ...R(b), ...ALL, '--concurrency', '-3'],
    code: 2,
    message: /--concurrency "-3" is not a whole number/,
  },
  {
    name: 'fractional concurrency',
    args: (b) => ['backup', ...R(b), ...ALL, '--concurrency', '2.5'],
    code: 2,
    message: /--concurrency "2.5" is not a whole number/,
  },
  {
    name: 'zero retention-min',
    args: (b) => ['backup', ...R(b), ...ALL, '--retention-min', '0'],
    code: 2,
    message: /--retention-min "0" is not a whole number from 1/,
  },
  {
    name: 'zero max-delete',
    args: (b) => ['run', ...R(b), ...ALL, '--max-delete', '0', '--', 'true'],
    code: 2,
    message: /--max-delete "0" is not a share above 0 and at most 1/,
  },
  {
    name: 'max-delete above 100%',
    args: (b) => ['run', ...R(b), ...ALL, '--max-delete', '150%', '--', 'true'],
    code: 2,
    message: /--max-delete "150%" is not a share/,
  },
  {
    name: 'metrics address without a port',
    args: (b) => ['run', ...R(b), ...ALL, '--metrics-addr', 'nonsense', '--', 'true'],
    code: 2,
    message: /--metrics-addr "nonsense" is not host:port/,
  },
  {
    name: 'metrics port out of range',
    args: (b) => ['run', ...R(b), ...ALL, '--metrics-addr', ':99999', '--', 'true'],
    code: 2,
    message: /port 99999 is out of range/,
  },
  {
    name: 'unknown log level',
    args: (b) => ['backup', ...R(b), ...ALL, '--log-level', 'loud'],
    code: 2,
    message: /unknown log level: --log-level "loud"/,
  },
  {
    name: '--force with --if-not-exists',
    args: (b) => ['restore', ...R(b), ...ALL, '--force', '--if-not-exists'],
    code: 2,
    message: /--force and --if-not-exists contradict each other/,
  },
  {
    name: 'timestamp that is not a date',
    args: (b) => ['restore', ...R(b), ...ALL, '--timestamp', 'yesterday'],
    code: 2,
    message: /--timestamp "yesterday" is not a date/,
  },
  {
    name: '--timestamp with --snapshot',
    args: (b) => ['restore', ...R(b), ...ALL, '--timestamp', '2026-01-01T00:00:00Z', '--snapshot', 'x'],
    code: 2,
    message: /--timestamp and --snapshot both choose a snapshot/,
  },
  {
    name: '--output with two databases',
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--db', 'other=data/other.db', '-o', 'out.db'],
    code: 2,
    message: /--output needs exactly one --db/,
  },
  { name: 'run without an app command', args: (b) => ['run', ...R(b), ...ALL], code: 2, message: /run: no app command given/ },
  {
    name: 'run with an app that does not exist',
    args: (b) => ['run', ...R(b), ...ALL, '--', '/nonexistent/app'],
    code: 127,
    message: /command not found: \/nonexistent\/app/,
  },
  { name: 'nothing to protect', args: (b) => ['backup', ...R(b)], code: 2, message: /nothing to protect is configured/ },

  // ---- environment
  {
    name: 'PERSISTD_LOG_LEVEL unknown',
    args: (b) => ['backup', ...R(b), ...ALL],
    env: () => ({ PERSISTD_LOG_LEVEL: 'loud' }),
    code: 2,
    message: /PERSISTD_LOG_LEVEL="loud"/,
  },
  {
    name: 'PERSISTD_CONCURRENCY not a number',
    args: (b) => ['backup', ...R(b), ...ALL],
    env: () => ({ PERSISTD_CONCURRENCY: 'abc' }),
    code: 2,
    message: /PERSISTD_CONCURRENCY="abc" is not a whole number/,
  },
  {
    name: 'PERSISTD_RETENTION not a duration',
    args: (b) => ['backup', ...R(b), ...ALL],
    env: () => ({ PERSISTD_RETENTION: 'forever' }),
    code: 2,
    message: /PERSISTD_RETENTION="forever" is not a duration/,
  },
  {
    name: 'PERSISTD_SNAPSHOT_INTERVAL nonsense',
    args: (b) => ['run', ...R(b), ...ALL, '--', 'true'],
    env: () => ({ PERSISTD_SNAPSHOT_INTERVAL: 'sometimes' }),
    code: 2,
    message: /PERSISTD_SNAPSHOT_INTERVAL="sometimes".*neither a duration nor a cron/,
  },
  {
    name: 'PERSISTD_URL with an unsupported scheme',
    args: () => ['backup', ...ALL],
    env: () => ({ PERSISTD_URL: 'ftp://host/backups' }),
    code: 2,
    message: /unsupported replica URL scheme "ftp:\/\/"/,
  },
  {
    name: 'PERSISTD_DBS naming one file twice',
    args: (b) => ['backup', ...R(b)],
    env: () => ({ PERSISTD_DBS: 'data/app.db,data/app.db' }),
    code: 2,
    message: /is given twice/,
  },
  {
    name: 'PERSISTD_DISABLED unreadable',
    args: () => ['run', '--', 'true'],
    env: () => ({ PERSISTD_DISABLED: 'maybe' }),
    code: 2,
    message: /PERSISTD_DISABLED="maybe" is neither on/,
  },
  {
    name: 'PERSISTD_STATE_DIR is a file',
    args: (b) => ['backup', ...R(b), ...ALL],
    env: (b) => ({ PERSISTD_STATE_DIR: path.join(b.work, 'security', 'tokens.json') }),
    code: 2,
    message: /state dir PERSISTD_STATE_DIR=.* is not a directory/,
  },
  {
    name: 'PERSISTD_CONFIG missing',
    args: (b) => ['backup', ...R(b), ...ALL],
    env: () => ({ PERSISTD_CONFIG: '/nonexistent/persistd.yml' }),
    code: 2,
    message: /cannot read config file \/nonexistent\/persistd.yml: it does not exist/,
  },
  {
    name: 'AWS_ACCESS_KEY_ID without the secret',
    args: () => ['backup', '--to', 's3://bucket/app', ...ALL],
    env: () => ({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }),
    code: 2,
    message: /AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not/,
  },
  { name: 'run with no replica configured', args: () => ['run', ...ALL, '--', 'true'], code: 2, message: /no replica configured/ },

  // ---- config file
  {
    name: 'config: invalid YAML',
    files: { 'persistd.yml': 'to: [unclosed\n' },
    args: () => ['backup', '--config', 'persistd.yml'],
    code: 2,
    message: /is not valid YAML \(line 2\)/,
  },
  {
    name: 'config: unknown key',
    files: { 'persistd.yml': 'to: file:///tmp/x\nbogus: 1\n' },
    args: () => ['backup', '--config', 'persistd.yml', ...ALL],
    code: 2,
    message: /unknown setting "bogus" in config file/,
  },
  {
    name: 'config: a map where a list belongs',
    files: { 'persistd.yml': 'dbs: {a: 1}\n' },
    args: (b) => ['backup', '--config', 'persistd.yml', ...R(b)],
    code: 2,
    message: /setting "dbs" in config file .* must be a string, a number or a list of them/,
  },
  {
    name: 'config: nested list',
    files: { 'persistd.yml': 'dbs: [[data/app.db]]\n' },
    args: (b) => ['backup', '--config', 'persistd.yml', ...R(b)],
    code: 2,
    message: /setting "dbs" .* must be a string/,
  },
  {
    name: 'config: wrong type of value',
    files: { 'persistd.yml': 'concurrency: many\n' },
    args: (b) => ['backup', '--config', 'persistd.yml', ...R(b), ...ALL],
    code: 2,
    message: /"concurrency: many" in .*persistd.yml is not a whole number/,
  },
  {
    name: 'config: duration without a unit',
    files: { 'persistd.yml': 'retention: 7\n' },
    args: (b) => ['backup', '--config', 'persistd.yml', ...R(b), ...ALL],
    code: 2,
    message: /"retention: 7" in .*persistd.yml is not a duration/,
  },
  {
    name: 'config: ${VAR} not set',
    files: { 'persistd.yml': 'to: s3://${BUCKET}/app\n' },
    args: () => ['backup', '--config', 'persistd.yml', ...ALL],
    code: 2,
    message: /\$\{BUCKET\} in setting "to" .* is not set in the environment/,
  },
  {
    name: 'config: a list, not a map',
    files: { 'persistd.yml': '- a\n- b\n' },
    args: () => ['backup', '--config', 'persistd.yml'],
    code: 2,
    message: /must be a YAML map of settings/,
  },
  {
    name: 'config: a key twice',
    files: { 'persistd.yml': 'to: file:///a\nto: file:///b\n' },
    args: () => ['backup', '--config', 'persistd.yml'],
    code: 2,
    message: /Map keys must be unique/,
  },
  {
    name: 'config: path is a directory',
    args: () => ['backup', '--config', 'data'],
    code: 2,
    message: /cannot read config file .*data: it is a directory/,
  },

  // ---- replica URLs
  {
    name: 'URL without a scheme',
    args: () => ['backup', '--to', 'bucket/app', ...ALL],
    code: 2,
    message: /invalid replica URL "bucket\/app": it has no scheme/,
  },
  {
    name: 'URL with an unsupported scheme',
    args: () => ['backup', '--to', 'http://bucket/app', ...ALL],
    code: 2,
    message: /unsupported replica URL scheme "http:\/\/"/,
  },
  {
    name: 's3:// without a bucket',
    args: () => ['backup', '--to', 's3://', ...ALL],
    code: 2,
    message: /replica URL "s3:\/\/" has no bucket/,
  },
  { name: 's3:/// with only a prefix', args: () => ['backup', '--to', 's3:///app', ...ALL], code: 2, message: /has no bucket/ },
  {
    name: 'invalid bucket name',
    args: () => ['backup', '--to', 's3://b!d/app', ...ALL],
    code: 2,
    message: /"b!d" is not a valid bucket name/,
  },
  {
    name: '.. in the prefix',
    args: () => ['backup', '--to', 's3://bucket/../app', ...ALL],
    code: 2,
    message: /has "\." or "\.\." in its prefix/,
  },
  {
    name: 'credentials in the URL',
    args: () => ['backup', '--to', 's3://AKIAEXAMPLE:topsecret@bucket/app', ...ALL],
    code: 2,
    message: /must not contain credentials/,
  },
  {
    name: 'file:// with a relative path',
    args: () => ['backup', '--to', 'file://relative/dir', ...ALL],
    code: 2,
    message: /invalid file URL "file:\/\/relative\/dir"/,
  },
  {
    name: 'file:// whose parent does not exist (an unmounted volume)',
    args: () => ['backup', '--to', 'file:///nonexistent-volume/app', ...ALL],
    code: 4,
    message: /the store directory \/nonexistent-volume\/app does not exist/,
  },
  {
    name: 'endpoint that is not a URL',
    args: () => ['backup', '--to', 's3://bucket/app', '--endpoint', 'notaurl', ...ALL],
    code: 2,
    message: /endpoint "notaurl" is not a URL/,
  },
  {
    name: 'endpoint with another scheme',
    args: () => ['backup', '--to', 's3://bucket/app', '--endpoint', 'ftp://host', ...ALL],
    code: 2,
    message: /endpoint "ftp:\/\/host" must be http:\/\/ or https:\/\//,
  },
  {
    name: 'endpoint with credentials',
    args: () => ['backup', '--to', 's3://bucket/app', '--endpoint', 'https://key:secret@host', ...ALL],
    code: 2,
    message: /endpoint URL must not contain credentials/,
  },
  {
    name: 'r2:// without the account',
    args: () => ['backup', '--to', 'r2://bucket/app', ...ALL],
    code: 2,
    message: /an r2:\/\/ replica needs the Cloudflare account/,
  },
  {
    name: 'gs:// without HMAC keys',
    args: () => ['backup', '--to', 'gs://bucket/app', ...ALL],
    code: 2,
    message: /no HMAC keys for the Google Cloud Storage replica/,
  },

  // ---- target specs
  {
    name: 'two targets with one name',
    args: (b) => ['backup', ...R(b), '--db', 'a=data/app.db', '--db', 'a=data/other.db'],
    code: 2,
    message: /would both be stored as "a"/,
  },
  {
    name: 'one path twice',
    args: (b) => ['backup', ...R(b), '--dir', 'uploads', '--dir', 'u2=uploads'],
    code: 2,
    message: /uploads is given twice/,
  },
  {
    name: 'database inside a protected directory',
    args: (b) => ['backup', ...R(b), '--db', 'data/app.db', '--dir', 'data'],
    code: 2,
    message: /--db .*app.db is inside --dir/,
  },
  {
    name: 'name with a space',
    args: (b) => ['backup', ...R(b), '--db', 'bad name=data/app.db'],
    code: 2,
    message: /"bad name" is not a valid name in the replica/,
  },
  {
    name: 'reserved name _loose',
    args: (b) => ['backup', ...R(b), '--dir', '_loose=uploads'],
    code: 2,
    message: /"_loose" is not a valid name/,
  },
  {
    name: 'reserved name .persistd',
    args: (b) => ['backup', ...R(b), '--dir', '.persistd=uploads'],
    code: 2,
    message: /"\.persistd" is not a valid name/,
  },
  {
    name: 'database whose folder does not exist',
    args: (b) => ['backup', ...R(b), '--db', 'missing/app.db'],
    code: 2,
    message: /the directory of --db .*missing\/app.db does not exist/,
  },
  {
    name: '--db that is not SQLite',
    args: (b) => ['backup', ...R(b), '--db', 'security/tokens.json'],
    code: 2,
    message: /is not a SQLite database/,
  },
  {
    name: '--db that is a directory',
    args: (b) => ['backup', ...R(b), '--db', 'uploads'],
    code: 2,
    message: /--db .*uploads is a directory/,
  },
  {
    name: '--dir that is a file',
    args: (b) => ['backup', ...R(b), '--dir', 'security/tokens.json'],
    code: 2,
    message: /is a file, not a directory/,
  },
  {
    name: '--file that is a directory',
    args: (b) => ['backup', ...R(b), '--file', 'uploads'],
    code: 2,
    message: /--file .*uploads is a directory/,
  },
  {
    name: '--file whose folder does not exist',
    args: (b) => ['backup', ...R(b), '--file', 'nothere/x.json'],
    code: 2,
    message: /the directory of --file .*nothere\/x.json does not exist/,
  },

  // ---- remote objects (restore --force over the local data: a bad replica must never replace it)
  {
    name: 'manifest that is not JSON',
    remote: (b) => writeFileSync(snapshotFiles(b.replicaDir).manifest, '{not json'),
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--force'],
    code: 1,
    message: /is not usable: it is not valid JSON/,
  },
  {
    name: 'manifest with a wrong chunk sha256',
    remote: (b) =>
      editManifest(b, (m) => {
        m.data.chunks.sha256[0] = '0'.repeat(64);
      }),
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--force'],
    code: 1,
    message: /does not verify: chunk 0 of .*: its sha256 is .*, the index says 0{64}/,
  },
  {
    name: 'manifest whose chunk index does not add up',
    remote: (b) =>
      editManifest(b, (m) => {
        m.data.chunks.compressed[0] += 1;
      }),
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--force'],
    code: 1,
    message: /is not usable: invalid or missing data.chunks/,
  },
  {
    name: 'manifest naming another database',
    remote: (b) =>
      editManifest(b, (m) => {
        m.database = 'other.db';
      }),
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--force'],
    code: 1,
    message: /names another database, generation or seq than its key/,
  },
  {
    name: 'manifest of a future format',
    remote: (b) =>
      editManifest(b, (m) => {
        m.format = 3;
      }),
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--force'],
    code: 2,
    message: /has format version 3, newer than this persistd reads \(2\)/,
  },
  {
    name: 'truncated snapshot data',
    remote: (b) => {
      const { data } = snapshotFiles(b.replicaDir);
      writeFileSync(data, readFileSync(data).subarray(0, 100));
    },
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--force'],
    code: 1,
    message: /does not verify: the data object has 100 bytes, the manifest says/,
  },
  {
    name: 'snapshot data object missing',
    remote: (b) => rmSync(snapshotFiles(b.replicaDir).data),
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--force'],
    code: 1,
    message: /data object .* is missing from the store/,
  },
  {
    name: 'snapshot id that does not exist',
    remote: () => undefined,
    args: (b) => ['restore', ...R(b), '--db', 'data/app.db', '--force', '--snapshot', '20200101T000000000Z'],
    code: 5,
    message: /the store has no snapshot 20200101T000000000Z/,
  },
  {
    name: 'replica marker of a future format version',
    remote: (b) =>
      writeFileSync(
        path.join(b.replicaDir, 'persistd.json'),
        '{"format":9,"createdBy":"persistd 9.0.0","createdAt":"2030-01-01T00:00:00.000Z"}',
      ),
    args: (b) => ['restore', ...R(b), ...ALL, '--force'],
    code: 2,
    message: /the replica uses format 9, written by persistd 9.0.0/,
  },
  {
    name: 'replica marker that is not JSON',
    remote: (b) => writeFileSync(path.join(b.replicaDir, 'persistd.json'), 'garbage'),
    args: (b) => ['restore', ...R(b), ...ALL, '--force'],
    code: 1,
    message: /persistd.json is not valid JSON/,
  },
  {
    name: 'file object whose bytes do not match its persistd-sha256 (S3)',
    args: (b) => ['restore', ...evilReplica(b), '--dir', 'vault=uploads'],
    env: s3Env,
    code: 1,
    message: /could not be restored \(first: u2\/b.pdf: .*sha256 does not match/,
  },
  {
    name: 'keys that escape the tree (files/<name>/../x, a/../../..)',
    args: (b) => ['restore', ...evilReplica(b), '--dir', 'uploads'],
    env: s3Env,
    code: 0,
    message: /4 unsafe key\(s\) refused/,
  },
];

const BATCH = fileURLToPath(new URL('./cli-batch.mjs', import.meta.url));

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs every invocation through the built CLI's main() in one process (see cli-batch.mjs). */
async function runBatch(jobs: Array<{ argv: string[]; env: Record<string, string>; cwd: string }>): Promise<Outcome[]> {
  const { code, stdout, stderr } = await runCaptured(process.execPath, [BATCH], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    input: JSON.stringify(jobs),
    killAfterMs: 120_000,
  });
  if (code !== 0) throw new Error(`the batch runner exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as Outcome[];
}

/** Prepares a row's sandbox: the local data, config files, and an empty or damaged replica. */
function prepare(row: Row, base: string, template: string, evilBucket: string): Sandbox {
  const root = mkdtempSync(path.join(base, 'row-'));
  const box: Sandbox = {
    root,
    work: path.join(root, 'work'),
    replicaDir: `${root}-replica`,
    replicaUrl: `file://${root}-replica`,
    evilBucket,
  };
  writeAppData(box.work, LOCAL);
  for (const [name, text] of Object.entries(row.files ?? {})) writeFileSync(path.join(box.work, name), text);
  if (row.remote) {
    cpSync(template, box.replicaDir, { recursive: true });
    row.remote(box);
  } else {
    mkdirSync(box.replicaDir);
  }
  return box;
}

let base: string;
const outcomes = new Map<Row, { box: Sandbox; before: Record<string, string>; outcome: Outcome }>();

beforeAll(async () => {
  base = mkdtempSync(path.join(tmpdir(), 'persistd-bad-input-'));
  // The template replica: one backup of other data (3 rows, a remote-only vault file, other tokens).
  const source = path.join(base, 'source');
  writeAppData(source, REMOTE);
  const template = path.join(base, 'template');
  const backup = await runPersistd(['backup', '--to', `file://${template}`, ...ALL], { cwd: source });
  if (backup.code !== 0) throw new Error(`template backup failed: ${backup.stderr}`);
  // An S3 replica with keys that try to escape the tree, and an object whose bytes do not match its checksum.
  const evilBucket = await createTestBucket('bad-input-keys');
  const client = rawS3Client();
  try {
    for (const key of [
      'files/uploads/../escape.txt',
      'files/uploads/a/../../../escape2.txt',
      'files/uploads/back\\slash.txt',
      'files/uploads//double.txt',
    ]) {
      await client.send(new PutObjectCommand({ Bucket: evilBucket, Key: `app/${key}`, Body: 'evil' }));
    }
    const claimed = createHash('sha256').update(bytes('what the object should hold', 3000)).digest('hex');
    await client.send(
      new PutObjectCommand({
        Bucket: evilBucket,
        Key: 'app/files/vault/u2/b.pdf',
        Body: bytes('what it holds instead', 3000),
        Metadata: { 'persistd-sha256': claimed, 'persistd-mtime': '1700000000000', 'persistd-mode': '644' },
      }),
    );
  } finally {
    client.destroy();
  }
  const boxes = ROWS.map((row) => prepare(row, base, template, evilBucket));
  const befores = boxes.map((box) => digestTree(box.root));
  const results = await runBatch(
    ROWS.map((row, i) => ({ argv: row.args(boxes[i]!), env: row.env?.(boxes[i]!) ?? {}, cwd: boxes[i]!.work })),
  );
  ROWS.forEach((row, i) => outcomes.set(row, { box: boxes[i]!, before: befores[i]!, outcome: results[i]! }));
}, 180_000);

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('bad input', () => {
  for (const row of ROWS) {
    const test = row.knownBug ? it.fails : it;
    test(`${row.name} → exit ${row.code}`, () => {
      const { box, before, outcome } = outcomes.get(row)!;
      const said = `${outcome.stdout}\n${outcome.stderr}`;
      expect({ code: outcome.code, said }).toMatchObject({ code: row.code, said: expect.stringMatching(row.message) as unknown });
      expect(said).not.toMatch(/\n\s+at .*\.js:\d+/); // no stack trace
      expect(said).not.toMatch(/unexpected error|main\(\) threw/);
      expect(said).not.toContain('topsecret');
      // The local data is exactly what it was: nothing replaced, added, removed, or written outside the tree.
      expect(digestTree(box.root)).toEqual(before);
    });
  }

  it('the batch runs the same CLI as bin/persistd.js: same exit codes and messages as separate processes', async () => {
    const samples = ROWS.filter((row) =>
      ['unknown flag', 'config: ${VAR} not set', 'run with an app that does not exist'].includes(row.name),
    );
    expect(samples).toHaveLength(3);
    for (const row of samples) {
      const { box, outcome } = outcomes.get(row)!;
      const alone = await runPersistd(row.args(box), { cwd: box.work, env: row.env?.(box) ?? {} });
      // JSON log lines carry times and pids; the messages for users are the other lines.
      const messages = (text: string): string[] => text.split('\n').filter((line) => !line.startsWith('{'));
      expect({ code: alone.code, stdout: alone.stdout, stderr: messages(alone.stderr) }).toEqual({
        code: outcome.code,
        stdout: outcome.stdout,
        stderr: messages(outcome.stderr),
      });
    }
  });
});
