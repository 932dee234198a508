import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity } from '../../src/crypto/age-keys.js';

/** Where the torture's replica lives: a file:// directory in the sandbox, or a bucket on an S3 server. */
export type TortureStore =
  { kind: 'fs' } | { kind: 's3'; endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; bucket: string };

/** Where one lineage's replica is, for reading it back: a file:// root, or a bucket and key prefix on an S3 server. */
export type ReplicaLocation = { kind: 'fs'; root: string } | (Extract<TortureStore, { kind: 's3' }> & { prefix: string });

/** One lineage's directories: the container's data and state (lost at every crash), the app's journals and the logs (kept). */
export interface TortureSandbox {
  dir: string;
  dbPath: string;
  uploadsDir: string;
  dataDir: string;
  stateDir: string;
  journalDir: string;
  logDir: string;
  /** persistd flags naming the replica, the targets and the state dir. */
  targetArgs: string[];
  env: NodeJS.ProcessEnv;
  replica: ReplicaLocation;
}

/** Makes a sandbox for a new lineage (a fresh replica), encrypted with a new age identity when `age`. */
export function makeSandbox(store: TortureStore, label: string, age = false): TortureSandbox {
  const dir = mkdtempSync(join(tmpdir(), `persistd-torture-${label}-`));
  const dataDir = join(dir, 'data');
  const sandbox: TortureSandbox = {
    dir,
    dataDir,
    dbPath: join(dataDir, 'app.db'),
    uploadsDir: join(dataDir, 'uploads'),
    stateDir: join(dir, 'state'),
    journalDir: join(dir, 'journal'),
    logDir: join(dir, 'logs'),
    targetArgs: [],
    env: {},
    replica: { kind: 'fs', root: join(dir, 'replica') },
  };
  for (const d of [dataDir, sandbox.journalDir, sandbox.logDir]) mkdirSync(d, { recursive: true });
  const targets = ['--db', sandbox.dbPath, '--dir', sandbox.uploadsDir, '--state-dir', sandbox.stateDir];
  if (store.kind === 'fs') {
    mkdirSync(join(dir, 'replica'));
    sandbox.targetArgs = ['--to', `file://${join(dir, 'replica')}`, ...targets];
  } else {
    const prefix = dir.split('/').at(-1)!.toLowerCase();
    sandbox.targetArgs = ['--to', `s3://${store.bucket}/${prefix}`, '--endpoint', store.endpoint, '--region', store.region, ...targets];
    sandbox.env = { AWS_ACCESS_KEY_ID: store.accessKeyId, AWS_SECRET_ACCESS_KEY: store.secretAccessKey };
    sandbox.replica = { ...store, prefix };
  }
  if (age) {
    const { secret, recipient } = generateIdentity();
    sandbox.env = { ...sandbox.env, PERSISTD_AGE_RECIPIENTS: recipient, PERSISTD_AGE_IDENTITY: secret };
  }
  return sandbox;
}

/** "Loses the container": the local data and persistd's state dir vanish (journals, logs and the replica stay). */
export function loseContainer(sandbox: TortureSandbox): void {
  rmSync(sandbox.dataDir, { recursive: true, force: true });
  rmSync(sandbox.stateDir, { recursive: true, force: true });
  mkdirSync(sandbox.dataDir, { recursive: true });
}
