import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { restorePointInTime } from '../../src/sqlite/wal/restore-point-in-time.js';
import { WalShipper } from '../../src/sqlite/wal/wal-shipper.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { checkBankDb, readBankJournal } from './check-bank-db.js';
import { Prng } from './prng.js';
import { messageOf } from '../../src/errors.js';

const WRITER = fileURLToPath(new URL('./bank-writer.py', import.meta.url));

/** Options of a bank torture run. */
export interface BankStressOptions {
  seed: number;
  rounds: number;
  /** Stop starting rounds after this long. */
  seconds: number;
  roundSeconds: number;
  /** `fs`, `s3` (needs `s3Store`), or `both` (alternating by round). */
  store: 'fs' | 's3' | 'both';
  /** A store under a fresh prefix for one round, on the S3 server. */
  s3Store?: (prefix: string) => ObjectStore;
  cpuBurners: number;
  keepFailures: boolean;
  log: (line: string) => void;
}

/** One failure, with what is needed to look at it again. */
export interface BankStressFailure {
  round: number;
  roundSeed: number;
  dir: string;
  what: string;
  problems: string[];
  recentActions: string[];
}

/** Totals of a bank torture run. */
export interface BankStressSummary {
  rounds: number;
  roundsByStore: { fs: number; s3: number };
  roundsByPageSize: Record<string, number>;
  syncs: number;
  stalls: number;
  snapshots: number;
  shipperRestarts: number;
  latestChecked: number;
  pointInTimeChecked: number;
  transactions: number;
  walBytesShipped: number;
  failures: BankStressFailure[];
}

/**
 * The bank torture (issue "never restore a state that did not exist"): drives WalShipper as a library
 * against the bank writer (bursts of large-page transfers, calm stretches, its own checkpoints) with
 * stalls far past one read, restarts, compaction snapshots, busy-looping CPU burners, small and large
 * read bounds, and checks every restore, latest and point in time, against the journal: the exact
 * balances after its seq (a state the app committed), and, for the latest, every transfer committed
 * before the sync.
 */
export async function runBankStress(options: BankStressOptions): Promise<BankStressSummary> {
  const summary: BankStressSummary = {
    rounds: 0,
    roundsByStore: { fs: 0, s3: 0 },
    roundsByPageSize: {},
    syncs: 0,
    stalls: 0,
    snapshots: 0,
    shipperRestarts: 0,
    latestChecked: 0,
    pointInTimeChecked: 0,
    transactions: 0,
    walBytesShipped: 0,
    failures: [],
  };
  const burners = Array.from({ length: options.cpuBurners }, (): ChildProcess =>
    spawn('nice', ['-n', '5', process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' }),
  );
  const rng = new Prng(options.seed);
  const deadline = Date.now() + options.seconds * 1000;
  try {
    for (let round = 1; round <= options.rounds && Date.now() < deadline; round++) {
      const roundSeed = rng.fork().seed;
      const kind = options.store === 'both' ? (round % 2 === 0 ? 's3' : 'fs') : options.store;
      await runRound(round, roundSeed, kind, options, summary);
      summary.rounds++;
      summary.roundsByStore[kind]++;
    }
  } finally {
    for (const burner of burners) burner.kill('SIGKILL');
  }
  return summary;
}

async function runRound(
  round: number,
  roundSeed: number,
  kind: 'fs' | 's3',
  options: BankStressOptions,
  summary: BankStressSummary,
): Promise<void> {
  const rng = new Prng(roundSeed);
  const dir = await mkdtemp(join(tmpdir(), 'persistd-torture-bank-'));
  await mkdir(join(dir, 'data'));
  await mkdir(join(dir, 'store'));
  const path = join(dir, 'data', 'bank.db');
  const journal = join(dir, 'journal.txt');
  if (kind === 's3' && !options.s3Store) throw new Error('an S3 round needs an S3 server');
  const store = kind === 's3' ? options.s3Store!(`bank-${roundSeed}-${Date.now().toString(36)}/`) : new FsStore(join(dir, 'store'));
  const pageSize = rng.pick([4096, 16384, 65536]);
  const accounts = rng.pick([100, 300]);
  const settings = {
    store: kind,
    pageSize,
    accounts,
    maxSegmentBytes: rng.pick([256 << 10, 1 << 20, 16 << 20]),
    checkpointFrames: rng.pick([20, 100, 1000]),
    truncateFactor: rng.pick([2, 10]),
  };
  summary.roundsByPageSize[String(pageSize)] = (summary.roundsByPageSize[String(pageSize)] ?? 0) + 1;
  const actions: string[] = [];
  const note = (action: string): void => {
    actions.push(`${new Date().toISOString()} ${action}`);
    if (actions.length > 40) actions.shift();
  };
  let failed = false;
  const fail = (what: string, problems: string[]): void => {
    failed = true;
    summary.failures.push({ round, roundSeed, dir, what, problems, recentActions: [...actions] });
    options.log(`FAILURE round ${round} (seed ${roundSeed}): ${what}: ${problems.join('; ')}`);
  };
  const newShipper = (): WalShipper =>
    new WalShipper({
      store,
      name: 'bank',
      path,
      stateDir: join(dir, 'state'),
      maxSegmentBytes: settings.maxSegmentBytes,
      checkpointFrames: settings.checkpointFrames,
      truncateFrames: settings.checkpointFrames * settings.truncateFactor,
    });
  const writer = startWriter(path, journal, pageSize, accounts, rng.int(0, 2 ** 31));
  let shipper: WalShipper | undefined;
  let probe: Database.Database | undefined;
  let restores = 0;
  const restoreAndCheck = async (label: string, atLeast: number, timestamp?: Date): Promise<number | undefined> => {
    const out = join(dir, `restore-${restores++}.db`);
    let incomplete: string | undefined;
    try {
      incomplete = (await restorePointInTime({ store, name: 'bank', path: out, timestamp })).incomplete;
    } catch (err) {
      const message = messageOf(err);
      if (timestamp !== undefined && /no snapshot/.test(message)) return undefined;
      fail(`${label}: restore failed`, [message]);
      return undefined;
    }
    const check = checkBankDb(out, readBankJournal(journal), accounts);
    // Nothing was removed from the replica: a restore that stops early is a failure of the shipper.
    if (incomplete !== undefined) check.problems.push(`INCOMPLETE: ${incomplete}`);
    if (check.problems.length > 0) fail(label, check.problems);
    else if (check.seq < atLeast) fail(label, [`restored transfer ${check.seq}, but ${atLeast} were committed before the sync`]);
    for (const suffix of ['', '-wal', '-shm']) await rm(`${out}${suffix}`, { force: true });
    return check.seq;
  };
  try {
    await writer.ready;
    probe = new Database(path, { readonly: true });
    const committed = (): number => probe!.prepare("SELECT seq FROM meta WHERE k = 'seq'").pluck().get() as number;
    shipper = newShipper();
    const started = new Date();
    const ends = Date.now() + options.roundSeconds * 1000;
    while (Date.now() < ends && !failed) {
      const r = rng.next();
      if (r < 0.15) {
        // A stalled (or CPU-starved) persistd: nothing read for a while as the app goes on.
        const ms = rng.int(300, 2500);
        note(`stall ${ms} ms`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        summary.stalls++;
      } else {
        await new Promise((resolve) => setTimeout(resolve, rng.int(0, 80)));
      }
      const before = committed();
      let ok = true;
      try {
        const a = rng.next();
        if (a < 0.05) {
          note(`restart shipper (seq>=${before})`);
          summary.walBytesShipped += shipper.status().bytesStored;
          await shipper.stop({ final: false });
          shipper = newShipper();
          summary.shipperRestarts++;
          ok = false;
        } else if (a < 0.13) {
          note(`snapshotOnce (seq>=${before})`);
          note(`  -> ${JSON.stringify(await shipper.snapshotOnce())}`);
          summary.snapshots++;
        } else {
          note(`syncOnce (seq>=${before})`);
          note(`  -> ${JSON.stringify(await shipper.syncOnce())}`);
          summary.syncs++;
        }
      } catch (err) {
        ok = false;
        note(`  -> threw ${messageOf(err)}`);
      }
      if (ok && rng.chance(0.3)) {
        // A sync stores a bounded amount: only one that caught up must hold everything committed before it.
        const caughtUp = shipper.status().caughtUp;
        note(`restored latest (caught up: ${caughtUp}): ${await restoreAndCheck('restore of the latest state', caughtUp ? before : 0)}`);
        summary.latestChecked++;
      }
      if (rng.chance(0.1)) {
        const at = new Date(started.getTime() + rng.next() * (Date.now() - started.getTime()));
        const seq = await restoreAndCheck(`restore to ${at.toISOString()}`, 0, at);
        note(`restored to ${at.toISOString()}: ${seq}`);
        if (seq !== undefined) summary.pointInTimeChecked++;
      }
    }
    const last = await writer.stop();
    summary.transactions += last;
    if (!failed) {
      await shipper.syncOnce({ drain: true }).catch(async () => shipper!.syncOnce({ drain: true }));
      const seq = await restoreAndCheck('final restore', last);
      if (seq !== undefined && seq !== last && !failed) fail('final restore', [`restored transfer ${seq}, the app committed ${last}`]);
      summary.latestChecked++;
    }
    summary.walBytesShipped += shipper.status().bytesStored;
    options.log(
      `round ${round} (seed ${roundSeed}) ${JSON.stringify(settings)}: ${last} transfers, ${restores} restores checked, ${failed ? 'FAILED' : 'ok'}`,
    );
  } finally {
    writer.kill();
    probe?.close();
    await shipper?.stop({ final: false }).catch(() => undefined);
    if (!failed || !options.keepFailures) await rm(dir, { recursive: true, force: true });
  }
}

function startWriter(
  path: string,
  journal: string,
  pageSize: number,
  accounts: number,
  seed: number,
): { ready: Promise<void>; stop(): Promise<number>; kill(): void } {
  const child = spawn('python3', [WRITER, path, journal, String(pageSize), String(accounts), String(seed)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = (async () => {
    const until = Date.now() + 30_000;
    while (!out.startsWith('ready\n')) {
      if (child.exitCode !== null || Date.now() > until) throw new Error(`the bank writer did not start: ${out}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  return {
    ready,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      const last = Number(out.trim().split('\n').at(-1));
      if (code !== 0 || !Number.isInteger(last)) throw new Error(`the bank writer exited with ${code}: ${out.slice(-200)}`);
      return last;
    },
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
