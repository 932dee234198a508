import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { REAPER_ADDON_PATH } from '../../src/engine/reaper-addon.js';
import { ZombieReaper } from '../../src/engine/zombie-reaper.js';
import { CaptureStream } from '../log/capture-stream.js';
import { runCaptured } from '../support/child-process.js';
import { PERSISTD_BIN } from '../support/run-persistd.js';

const ORPHAN_APP = fileURLToPath(new URL('./fixtures/orphan-maker.mjs', import.meta.url));
const PROBE = fileURLToPath(new URL('./fixtures/reaper-probe.mjs', import.meta.url));
const ADDON_MISSING = `the native reaper is not built (${REAPER_ADDON_PATH}): npm ci builds it; or run npm run build:native`;

/** Whether this machine lets us run persistd as PID 1 of a new pid namespace. */
function pidNamespaceReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for unshare --pid';
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
  if (probe.error) return `unshare is unavailable: ${probe.error.message}`;
  return probe.status === 0 ? undefined : `unshare --pid --fork --mount-proc is refused here (exit ${probe.status})`;
}

/** Runs the orphan-making app under `persistd run` (optionally behind `prefix`, e.g. unshare) and collects the result. */
async function runOrphanApp(
  env: NodeJS.ProcessEnv,
  prefix: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'persistd-reaper-'));
  mkdirSync(path.join(dir, 'data'));
  const persistd = [
    process.execPath,
    PERSISTD_BIN,
    'run',
    '--to',
    `file://${path.join(dir, 'replica')}`,
    '--db',
    path.join(dir, 'data', 'app.db'),
    '--state-dir',
    path.join(dir, 'state'),
    '--',
    process.execPath,
    ORPHAN_APP,
  ];
  const [command, ...args] = [...prefix, ...persistd];
  const { code, stdout, stderr } = await runCaptured(command!, args, {
    env: { PATH: process.env.PATH, PERSISTD_LOG_LEVEL: 'info', APP_EXIT_CODE: '7', ...env },
  });
  return { code, stdout, stderr };
}

describe('zombie reaping', () => {
  it('the native reaper collects exited orphans but leaves the zombie child libuv waits for', () => {
    expect(existsSync(REAPER_ADDON_PATH), ADDON_MISSING).toBe(true);
    const probe = spawnSync(process.execPath, [PROBE, REAPER_ADDON_PATH], { encoding: 'utf8', timeout: 30_000 });
    expect(probe.status, probe.stderr).toBe(0);
    expect(JSON.parse(probe.stdout)).toEqual({
      subreaperBefore: false,
      subreaperSet: true,
      subreaperAfter: true,
      orphanParentIsUs: true,
      orphanStillZombieBeforeReap: true,
      reapedOrphans: 1,
      orphanGoneAfterReap: true,
      reapedWithKeep: 1,
      keptStillZombie: true,
      secondOrphanGone: true,
      appExitCode: 5,
    });
  });

  it("with PERSISTD_SUBREAPER=1 persistd adopts and reaps the app's orphans, and passes the app's exit code through", async () => {
    expect(existsSync(REAPER_ADDON_PATH), ADDON_MISSING).toBe(true);
    const run = await runOrphanApp({ PERSISTD_SUBREAPER: '1' });
    expect(run.stdout).toContain('orphans adopted by the supervisor: 3/3');
    expect(run.stdout).toContain('orphans left: 0; zombies under the supervisor: 0');
    expect(run.stderr).not.toContain('zombie reaper is unavailable');
    expect(run.code).toBe(7);
  });

  it("without PERSISTD_SUBREAPER (and not PID 1) the orphans are not persistd's", async () => {
    const run = await runOrphanApp({});
    expect(run.stdout).toContain('orphans adopted by the supervisor: 0/3');
    expect(run.code).toBe(7);
  });

  const noPidNamespace = pidNamespaceReason();
  it.skipIf(noPidNamespace !== undefined)(
    `as PID 1 of a pid namespace persistd reaps the app's orphans${noPidNamespace ? ` (skipped: ${noPidNamespace})` : ''}`,
    async () => {
      expect(existsSync(REAPER_ADDON_PATH), ADDON_MISSING).toBe(true);
      const run = await runOrphanApp({}, ['unshare', '--pid', '--fork', '--mount-proc']);
      expect(run.stdout).toContain('orphans adopted by the supervisor: 3/3');
      expect(run.stdout).toContain('orphans left: 0; zombies under the supervisor: 0');
      expect(run.stderr).not.toContain('zombie reaper is unavailable');
      expect(run.code).toBe(7);
    },
  );

  it('as PID 1 without the addon, warns once and names the fix; not PID 1, does not even load it', () => {
    const stream = new CaptureStream();
    const logger = createLogger({ level: 'info', pretty: false, destination: stream });
    const pid1 = ZombieReaper.start({ env: {}, logger, pid: 1, load: () => ({ reason: 'it was not built' }) });
    expect(pid1.active).toBe(false);
    const lines = stream
      .text()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe(40);
    expect(lines[0]!.msg).toContain('PID 1');
    expect(lines[0]!.msg).toContain('it was not built');
    expect(lines[0]!.msg).toContain('docker run --init');
    expect(lines[0]!.msg).toContain('tini');

    let loaded = false;
    const plain = ZombieReaper.start({ env: {}, logger, pid: 4321, load: () => ((loaded = true), { reason: 'unused' }) });
    expect(plain.active).toBe(false);
    expect(loaded).toBe(false);
    expect(stream.text().trim().split('\n')).toHaveLength(1);
  });
});
