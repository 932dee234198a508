import type { Logger } from '../log/logger.js';
import { loadReaperAddon, type ReaperAddon, type ReaperAddonLoad } from './reaper-addon.js';
import { spawnedPids } from './spawned-pids.js';

/** How often the reaper collects exited orphans. */
export const REAP_INTERVAL_MS = 1_000;

/** What decides whether persistd reaps orphans; everything but `env` and `logger` is injectable for tests. */
export interface ZombieReaperOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  pid?: number;
  load?: () => ReaperAddonLoad;
  intervalMs?: number;
}

/**
 * Lets persistd act as init for the app's orphans: as PID 1 in a container (or as a child subreaper
 * with PERSISTD_SUBREAPER=1) every orphaned descendant of the app is re-parented to persistd and
 * stays a zombie until persistd reaps it, which Node alone never does. Reaps on an unref'd timer and
 * leaves persistd's own children to libuv.
 */
export class ZombieReaper {
  private timer: NodeJS.Timeout | undefined;
  private reaped = 0;

  private constructor(
    private readonly addon: ReaperAddon | undefined,
    private readonly logger: Logger,
  ) {}

  /** Starts reaping when persistd is PID 1 or PERSISTD_SUBREAPER is set; warns once when it should but cannot. */
  static start(options: ZombieReaperOptions): ZombieReaper {
    const { logger } = options;
    const isPid1 = (options.pid ?? process.pid) === 1;
    const subreaperRequested = /^(1|true|yes|on)$/i.test(options.env.PERSISTD_SUBREAPER?.trim() ?? '');
    if (!isPid1 && !subreaperRequested) return new ZombieReaper(undefined, logger);
    const loaded = (options.load ?? loadReaperAddon)();
    if (!loaded.addon) {
      const role = isPid1 ? 'persistd runs as PID 1' : 'PERSISTD_SUBREAPER is set';
      logger.warn(
        `${role} but its zombie reaper is unavailable (${loaded.reason}): exited orphans of the app will stay zombies; ` +
          'run the container with `docker run --init` (or tini as the entrypoint), or rebuild persistd where a C compiler exists (npm run build:native)',
      );
      return new ZombieReaper(undefined, logger);
    }
    if (!isPid1 && !loaded.addon.setSubreaper()) {
      logger.warn(
        'PERSISTD_SUBREAPER is set but this kernel refused PR_SET_CHILD_SUBREAPER: orphans of the app are not reaped by persistd',
      );
      return new ZombieReaper(undefined, logger);
    }
    const reaper = new ZombieReaper(loaded.addon, logger);
    reaper.timer = setInterval(() => reaper.reapNow(), options.intervalMs ?? REAP_INTERVAL_MS);
    reaper.timer.unref();
    logger.debug({ pid1: isPid1 }, 'reaping orphaned processes of the app');
    return reaper;
  }

  /** True when orphans are being reaped. */
  get active(): boolean {
    return this.timer !== undefined;
  }

  /** Reaps every exited orphan now (never persistd's own children); returns how many. */
  reapNow(): number {
    if (!this.addon) return 0;
    const count = this.addon.reap(spawnedPids());
    if (count > 0) {
      this.reaped += count;
      this.logger.debug({ reaped: count, total: this.reaped }, 'reaped exited orphan processes');
    }
    return count;
  }

  /** Stops the timer after a last pass. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.reapNow();
  }
}
