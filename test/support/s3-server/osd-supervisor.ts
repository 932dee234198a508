import { describeExit, spawnDaemon, type Daemon } from './daemon.js';

/** How often the OSD may be restarted before the start is given up. */
const MAX_OSD_RESTARTS = 5;

/**
 * Keeps the single OSD running. Ceph 16 sometimes rejects the OSD's first mon command ("wrong fsid")
 * and the OSD exits within seconds (about 2 starts in 10); starting it again works.
 */
export class OsdSupervisor {
  private current: Daemon | undefined;
  private restarts = 0;
  private stopped = false;
  private failure: Error | undefined;

  constructor(
    private readonly args: readonly string[],
    private readonly cwd: string,
    private readonly onSpawn: (daemon: Daemon) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts the OSD and restarts it whenever it exits, until stop() or too many restarts. */
  start(): void {
    const daemon = spawnDaemon('osd.0', 'ceph-osd', this.args, this.cwd);
    this.current = daemon;
    this.onSpawn(daemon);
    void daemon.exited.then((exit) => {
      if (this.stopped || this.current !== daemon) return;
      const why = describeExit(exit);
      if (this.restarts >= MAX_OSD_RESTARTS) {
        this.failure = new Error(`ceph-osd exited (${why}) after ${this.restarts} restarts`);
        return;
      }
      this.restarts++;
      const wrongFsid = /wrong fsid/i.test(daemon.outputTail());
      this.log(`ceph-osd exited (${why}${wrongFsid ? ', "wrong fsid"' : ''}); restarting it (${this.restarts}/${MAX_OSD_RESTARTS})`);
      this.start();
    });
  }

  /** The error to report if the OSD could not be kept running, else undefined. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** How many times the OSD was restarted. */
  get restartCount(): number {
    return this.restarts;
  }

  /** Stops supervising and kills the OSD. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.current?.kill();
  }
}
