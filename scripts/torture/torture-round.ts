import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPersistd } from '../../test/support/run-persistd.js';
import { readLaunchJournal, type LaunchJournal } from './app-journal.js';
import { checkRestoredState } from './check-restored-state.js';
import { launchMilestones, phaseFromLog, phaseFromReplica, type KillPhase, type LaunchMilestones } from './launch-phase.js';
import { startContainer, type ContainerProcess } from './persistd-process.js';
import type { Prng } from './prng.js';
import { readReplicaLineage } from './replica-lineage.js';
import { loseContainer, type TortureSandbox } from './torture-sandbox.js';

const APP = fileURLToPath(new URL('./torture-app.py', import.meta.url));

/** How a round's container died. `snapshot`: persistd killed right after a scheduled snapshot started. */
export type KillKind = 'app' | 'persistd' | 'both' | 'snapshot';

/** A lineage: one replica that rounds keep crashing and restoring. */
export interface Lineage {
  sandbox: TortureSandbox;
  launches: Map<number, LaunchJournal>;
  nextLaunch: number;
  /** Rows the last checked restore held: every later restore holds at least these. */
  k: number;
  /** Whether the container's data is on disk (restored by `persistd restore`) or `persistd run` must restore it. */
  localPresent: boolean;
}

/** Settings shared by all rounds. */
export interface RoundSettings {
  snapshotInterval: string;
  syncInterval: string;
  /**
   * Every transaction committed longer than this before persistd was killed must be restored, from the
   * app's first commit on, whatever phase the launch was in; undefined: only reported.
   */
  maxLossMs: number | undefined;
}

/** What one round did and found. */
export interface RoundResult {
  kill: KillKind;
  /** Whether persistd was also killed during a restore at the start of the round. */
  restoreKill: boolean;
  ranMs: number;
  committed: number;
  restoredRows: number;
  restoredFiles: number;
  /** Age, at the kill, of the oldest committed transaction the restore lacks (0: nothing lost). */
  lossMs: number;
  /** Where the kill fell relative to the launch's first snapshot (undefined: the app never started). */
  phase: KillPhase | undefined;
  /** The launch's first-snapshot window, in ms after persistd was started (undefined: not reached before the kill). */
  window: LaunchWindow | undefined;
  problems: string[];
}

/** Milestones of a launch, in ms after `persistd run` was started. */
export interface LaunchWindow {
  appStartMs: number;
  /** First snapshot of the launch's generation committed; undefined when the kill came first. */
  snapshotMs: number | undefined;
  /** Lineage pointer taken (restores follow the launch's generation from then on). */
  pointerMs: number | undefined;
  killMs: number;
}

const SNAPSHOT_LOG = /snapshot stored|new generation started/;

/** Runs one round: start (maybe kill during restore and start again), run, SIGKILL, lose the container, restore, check. */
export async function runRound(lineage: Lineage, rng: Prng, settings: RoundSettings, _log: (line: string) => void): Promise<RoundResult> {
  const problems: string[] = [];
  const { sandbox } = lineage;
  const lowerBound = lineage.k;
  let restoreKill = false;
  if (!lineage.localPresent && rng.chance(0.25)) {
    // A container that dies while persistd restores: kill it at a random moment of the restore.
    const { container, launch } = start(lineage, rng, settings);
    const wait = rng.int(50, 1500);
    await Promise.race([sleep(wait), container.exited]);
    restoreKill = readLaunchJournal(journalPath(sandbox, launch), launch).start === undefined;
    container.killAll();
    await finish(lineage, container, launch);
    loseContainer(sandbox);
  }
  const { container, launch, spawnedAt } = start(lineage, rng, settings);
  const started = await waitForStart(lineage, container, launch, problems);
  if (!started)
    return {
      kill: 'both',
      restoreKill,
      ranMs: 0,
      committed: 0,
      restoredRows: 0,
      restoredFiles: 0,
      lossMs: 0,
      phase: undefined,
      window: undefined,
      problems,
    };
  const journal = readLaunchJournal(journalPath(sandbox, launch), launch);
  const s = journal.start!;
  if (s.integrity !== 'ok' || !s.consistent)
    problems.push(
      `the app started on a restored database that is not consistent (integrity ${s.integrity}, rows consistent: ${s.consistent})`,
    );
  if (s.n < lowerBound) problems.push(`persistd run restored ${s.n} rows, an earlier restore of the same replica had ${lowerBound}`);

  let kill = rng.pick<KillKind>(['app', 'persistd', 'both', 'snapshot']);
  await sleep(rng.int(200, 2500));
  if (kill === 'snapshot' && !(await waitForSnapshotStart(container, settings, rng))) kill = 'persistd';
  const killAt = Date.now();
  if (kill === 'app') {
    process.kill(s.pid, 'SIGKILL');
    const exit = await Promise.race([container.exited, sleep(60_000).then(() => undefined)]);
    if (exit === undefined) problems.push('persistd did not exit within 60 s after the app was killed');
    else if (exit.code !== 137)
      problems.push(`persistd exited with ${exit.code ?? exit.signal} after the app was SIGKILLed (expected 137)`);
  } else if (kill === 'both') {
    container.killAll();
  } else {
    container.killPersistd();
    container.killAll();
  }
  await finish(lineage, container, launch);
  const ranMs = killAt - s.at;
  const final = lineage.launches.get(launch)!;
  const milestones = launchMilestones(container.events());
  const phase =
    kill === 'app' ? phaseFromLog(milestones, killAt) : await phaseAtKill(sandbox, container, spawnedAt, milestones, killAt, problems);
  const since = (at: number | undefined): number | undefined => (at === undefined || at > killAt ? undefined : at - spawnedAt);
  const window: LaunchWindow = {
    appStartMs: s.at - spawnedAt,
    snapshotMs: since(milestones.snapshotAt),
    pointerMs: since(milestones.pointerAt),
    killMs: killAt - spawnedAt,
  };

  loseContainer(sandbox);
  const restore = await runPersistd(['restore', ...sandbox.targetArgs], { env: sandbox.env, timeoutMs: 180_000 });
  writeFileSync(join(sandbox.logDir, `restore-${launch}.log`), restore.stderr);
  if (restore.code !== 0 && !(restore.code === 5 && lowerBound === 0))
    problems.push(`persistd restore exited with ${restore.code}: ${lastLines(restore.stderr)}`);
  const state = checkRestoredState(sandbox.dbPath, sandbox.uploadsDir, lineage.launches);
  problems.push(...state.problems);
  if (state.k < lowerBound) problems.push(`restored ${state.k} rows, an earlier restore of the same replica had ${lowerBound}`);
  const lastCommitted = final.commits.at(-1)?.i ?? s.n;
  if (kill === 'app' && state.k < lastCommitted)
    problems.push(
      `the app was killed and persistd took its final backup, yet only ${state.k} of ${lastCommitted} committed rows were restored`,
    );
  const firstLost = final.commits.find((c) => c.i > state.k);
  const lossMs = firstLost ? Math.max(0, killAt - firstLost.at) : 0;
  if (settings.maxLossMs !== undefined && kill !== 'app' && lossMs > settings.maxLossMs) {
    problems.push(
      `transaction ${firstLost!.i}, committed ${lossMs} ms before persistd was killed, was lost (bound ${settings.maxLossMs} ms; ` +
        `the launch's first snapshot was stored ${window.snapshotMs ?? '?'} ms and its lineage pointer taken ${window.pointerMs ?? '?'} ms after launch, the kill came at ${window.killMs} ms)`,
    );
  }
  lineage.k = Math.max(lineage.k, state.k);
  // Next round: either the container restored by `persistd restore`, or a fresh one that `persistd run` must restore.
  lineage.localPresent = rng.chance(0.5);
  if (!lineage.localPresent) loseContainer(sandbox);
  return {
    kill,
    restoreKill,
    ranMs,
    committed: final.commits.length,
    restoredRows: state.k,
    restoredFiles: state.files,
    lossMs,
    phase,
    window,
    problems,
  };
}

/**
 * The phase by the replica persistd left (what the restore sees). A pointer that persistd logged as
 * taken before the kill must be there, naming a generation with a committed snapshot.
 */
async function phaseAtKill(
  sandbox: TortureSandbox,
  container: ContainerProcess,
  spawnedAt: number,
  milestones: LaunchMilestones,
  killAt: number,
  problems: string[],
): Promise<KillPhase> {
  const replica = await readReplicaLineage(sandbox.replica, basename(sandbox.dbPath));
  const phase = phaseFromReplica(replica, container.child.pid, spawnedAt);
  if (phase === 'after' && !replica.committed.has(replica.pointer!.generation)) {
    problems.push(`the lineage pointer names generation ${replica.pointer!.generation}, which has no committed snapshot`);
  }
  if (phaseFromLog(milestones, killAt) === 'after' && phase !== 'after') {
    problems.push(
      `persistd logged 'took the lineage pointer' ${killAt - milestones.pointerAt!} ms before it was killed, yet the replica's pointer is not this launch's`,
    );
  }
  return phase;
}

function start(lineage: Lineage, rng: Prng, settings: RoundSettings): { container: ContainerProcess; launch: number; spawnedAt: number } {
  const launch = lineage.nextLaunch++;
  const { sandbox } = lineage;
  const args = [
    ...sandbox.targetArgs,
    '--snapshot-interval',
    settings.snapshotInterval,
    '--sync-interval',
    settings.syncInterval,
    '--app-stop-timeout',
    '5s',
    '--shutdown-timeout',
    '30s',
    '--restore-timeout',
    '2m',
    '--log-level',
    'info',
  ];
  const app = [
    'python3',
    APP,
    sandbox.dbPath,
    sandbox.uploadsDir,
    journalPath(sandbox, launch),
    String(launch),
    String(rng.int(0, 2 ** 31)),
  ];
  const spawnedAt = Date.now();
  return { container: startContainer(args, app, sandbox.env), launch, spawnedAt };
}

async function waitForStart(lineage: Lineage, container: ContainerProcess, launch: number, problems: string[]): Promise<boolean> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (readLaunchJournal(journalPath(lineage.sandbox, launch), launch).start !== undefined) return true;
    const exited = container.child.exitCode !== null || container.child.signalCode !== null;
    if (exited || Date.now() > deadline) {
      problems.push(
        exited
          ? `persistd run exited with ${container.child.exitCode} before starting the app: ${lastLines(container.logs())}`
          : 'the app did not start within 120 s',
      );
      container.killAll();
      await finish(lineage, container, launch);
      return false;
    }
    await sleep(20);
  }
}

/**
 * Waits for the next snapshot to be stored, then until the one after it should start (the schedule
 * runs every snapshot interval from the start of the previous one), plus a few milliseconds.
 */
async function waitForSnapshotStart(container: ContainerProcess, settings: RoundSettings, rng: Prng): Promise<boolean> {
  const intervalMs = parseInterval(settings.snapshotInterval);
  const seen = container.events().filter((e) => SNAPSHOT_LOG.test(String(e.msg))).length;
  const deadline = Date.now() + intervalMs * 4 + 5_000;
  while (Date.now() < deadline) {
    const events = container.events().filter((e) => SNAPSHOT_LOG.test(String(e.msg)));
    if (events.length > seen) {
      const last = events.at(-1)!;
      const startedAt = new Date(String(last.time)).getTime() - Number(last.ms ?? 0);
      await sleep(Math.max(0, startedAt + intervalMs - Date.now()) + rng.int(0, 40));
      return true;
    }
    await sleep(5);
  }
  return false;
}

/** Makes sure every process of the container is gone, and records the launch's journal. */
async function finish(lineage: Lineage, container: ContainerProcess, launch: number): Promise<void> {
  container.killAll();
  await container.exited;
  writeFileSync(join(lineage.sandbox.logDir, `run-${launch}.log`), container.logs());
  lineage.launches.set(launch, readLaunchJournal(journalPath(lineage.sandbox, launch), launch));
}

function journalPath(sandbox: TortureSandbox, launch: number): string {
  return join(sandbox.journalDir, `launch-${launch}.log`);
}

/** Milliseconds of a persistd interval flag (`500ms`, `1s`, `2m`); 1000 when it does not parse. */
export function parseInterval(text: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(text);
  if (!m) return 1000;
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ').slice(0, 600);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
