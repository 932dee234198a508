import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { restorePointInTime } from '../../src/sqlite/wal/restore-point-in-time.js';
import { WalShipper } from '../../src/sqlite/wal/wal-shipper.js';
import { FsStore } from '../../src/store/fs-store.js';
import { checkWalStressDb } from './check-wal-stress-db.js';
import { Prng } from './prng.js';
import { messageOf } from '../../src/errors.js';

const WRITER = fileURLToPath(new URL('./wal-writer.py', import.meta.url));

/** Options of a WAL shipper stress run. */
export interface WalStressOptions {
  seed: number;
  /** Stop after this many rounds, or after `seconds`, whichever comes first. */
  rounds: number;
  seconds: number;
  /** Length of one round (one database, one writer, one store). */
  roundSeconds: number;
  /** Busy-looping processes started for the run, to get the writer and the shipper preempted at odd moments. */
  cpuBurners: number;
  keepFailures: boolean;
  log: (line: string) => void;
}

/** One consistency failure, with what is needed to look at it again. */
export interface WalStressFailure {
  round: number;
  roundSeed: number;
  dir: string;
  what: string;
  problems: string[];
  recentActions: string[];
}

/** Totals of a stress run. */
export interface WalStressSummary {
  rounds: number;
  syncs: number;
  snapshots: number;
  shipperRestarts: number;
  restoresChecked: number;
  pointInTimeChecked: number;
  generationsStarted: number;
  checkpoints: number;
  transactions: number;
  failures: WalStressFailure[];
}

/**
 * Drives WalShipper directly against a concurrent writer process (wal-writer.py) with frequent
 * checkpoints of its own and of the app, random sync/snapshot/restart timing, and checks every
 * restore: a consistent prefix 1..n holding at least every transaction committed before the sync.
 */
export async function runWalStress(options: WalStressOptions): Promise<WalStressSummary> {
  const summary: WalStressSummary = {
    rounds: 0,
    syncs: 0,
    snapshots: 0,
    shipperRestarts: 0,
    restoresChecked: 0,
    pointInTimeChecked: 0,
    generationsStarted: 0,
    checkpoints: 0,
    transactions: 0,
    failures: [],
  };
  const burners = startBurners(options.cpuBurners);
  const rng = new Prng(options.seed);
  const deadline = Date.now() + options.seconds * 1000;
  try {
    for (let round = 1; round <= options.rounds && Date.now() < deadline; round++) {
      const roundSeed = rng.fork().seed;
      await runRound(round, roundSeed, options, summary);
      summary.rounds++;
    }
  } finally {
    for (const burner of burners) burner.kill('SIGKILL');
  }
  return summary;
}

async function runRound(round: number, roundSeed: number, options: WalStressOptions, summary: WalStressSummary): Promise<void> {
  const rng = new Prng(roundSeed);
  const dir = await mkdtemp(join(tmpdir(), 'persistd-torture-wal-'));
  const path = join(dir, 'data', 'app.db');
  await mkdir(join(dir, 'data'));
  await mkdir(join(dir, 'store'));
  const store = new FsStore(join(dir, 'store'));
  const checkpointFrames = rng.pick([8, 20, 50, 200]);
  const truncateFrames = checkpointFrames * rng.pick([2, 3, 10]);
  const settings = {
    checkpointFrames,
    truncateFrames,
    synchronous: rng.pick(['FULL', 'NORMAL']),
    appCheckpoint: rng.pick([0, 0.001, 0.005, 0.02]),
  };
  const writer = startWriter(path, rng.int(0, 2 ** 31), settings.synchronous, settings.appCheckpoint);
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
  let shipper: WalShipper | undefined;
  const newShipper = (): WalShipper =>
    new WalShipper({ store, name: 'app', path, stateDir: join(dir, 'state'), checkpointFrames, truncateFrames });
  let probe: Database.Database | undefined;
  let restores = 0;
  const restoreAndCheck = async (label: string, atLeast: number, timestamp?: Date): Promise<number | undefined> => {
    const out = join(dir, `restore-${restores++}.db`);
    try {
      await restorePointInTime({ store, name: 'app', path: out, timestamp });
    } catch (err) {
      const message = messageOf(err);
      if (timestamp !== undefined && /no snapshot/.test(message)) return undefined;
      fail(`${label}: restore failed`, [message]);
      return undefined;
    }
    const check = checkWalStressDb(out);
    if (check.problems.length > 0) fail(label, check.problems);
    else if (check.n < atLeast) fail(label, [`restored up to ${check.n}, but ${atLeast} were committed before the sync`]);
    await rm(out, { force: true });
    await rm(`${out}-wal`, { force: true });
    await rm(`${out}-shm`, { force: true });
    return check.n;
  };
  try {
    await writer.ready;
    probe = new Database(path, { readonly: true });
    const committed = (): number => probe!.prepare("SELECT n FROM meta WHERE k = 'n'").pluck().get() as number;
    shipper = newShipper();
    const ends = Date.now() + options.roundSeconds * 1000;
    const started = new Date();
    while (Date.now() < ends && !failed) {
      await new Promise((resolve) => setTimeout(resolve, rng.int(0, 60)));
      const before = committed();
      const r = rng.next();
      let ok = true;
      try {
        if (r < 0.06) {
          note(`restart shipper (n>=${before})`);
          summary.generationsStarted += shipper.status().generationsStarted;
          summary.checkpoints += shipper.status().checkpoints;
          await shipper.stop({ final: false });
          shipper = newShipper();
          summary.shipperRestarts++;
          ok = false;
        } else if (r < 0.16) {
          note(`snapshotOnce (n>=${before})`);
          const result = await shipper.snapshotOnce();
          note(`  -> ${JSON.stringify(result)}`);
          summary.snapshots++;
        } else {
          note(`syncOnce (n>=${before})`);
          const result = await shipper.syncOnce();
          note(`  -> ${JSON.stringify(result)}`);
          summary.syncs++;
        }
      } catch (err) {
        ok = false;
        note(`  -> threw ${messageOf(err)}`);
      }
      if (ok && rng.chance(0.35)) {
        const n = await restoreAndCheck('restore of the latest state', before);
        note(`restored latest: ${n}`);
        summary.restoresChecked++;
      }
      if (rng.chance(0.05)) {
        const at = new Date(started.getTime() + rng.next() * (Date.now() - started.getTime()));
        const n = await restoreAndCheck(`restore to ${at.toISOString()}`, 0, at);
        note(`restored to ${at.toISOString()}: ${n}`);
        if (n !== undefined) summary.pointInTimeChecked++;
      }
    }
    const last = await writer.stop();
    summary.transactions += last;
    if (!failed) {
      await shipper.syncOnce().catch(async () => shipper!.syncOnce());
      const n = await restoreAndCheck('final restore', last);
      if (n !== undefined && n !== last && !failed) fail('final restore', [`restored ${n}, the writer committed ${last}`]);
      summary.restoresChecked++;
    }
    summary.generationsStarted += shipper.status().generationsStarted;
    summary.checkpoints += shipper.status().checkpoints;
    options.log(
      `round ${round} (seed ${roundSeed}) ${JSON.stringify(settings)}: ${last} transactions, ${restores} restores, ${failed ? 'FAILED' : 'ok'}`,
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
  seed: number,
  synchronous: string,
  checkpointP: number,
): { ready: Promise<void>; stop(): Promise<number>; kill(): void } {
  const child = spawn('python3', [WRITER, path, String(seed), synchronous, String(checkpointP)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = (async () => {
    const until = Date.now() + 20_000;
    while (!out.startsWith('ready\n')) {
      if (child.exitCode !== null || Date.now() > until) throw new Error(`the writer did not start: ${out}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  return {
    ready,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      const last = Number(out.trim().split('\n').at(-1));
      if (code !== 0 || !Number.isInteger(last)) throw new Error(`the writer exited with ${code}: ${out.slice(-200)}`);
      return last;
    },
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

function startBurners(count: number): ChildProcess[] {
  return Array.from({ length: count }, () => spawn('nice', ['-n', '5', process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' }));
}
