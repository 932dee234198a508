import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { confPath, renderCephConf } from './ceph-conf.js';
import { describeExit, spawnDaemon, type Daemon } from './daemon.js';
import { freePort } from './free-port.js';
import { OsdSupervisor } from './osd-supervisor.js';
import { PidRecord } from './pid-registry.js';
import { runTool } from './run-tool.js';
import { messageOf } from '../../../src/errors.js';
import { pollUntil } from '../poll.js';

/** A single-node Ceph cluster serving S3 through RGW on 127.0.0.1. */
export interface CephCluster {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Kills every daemon and deletes the cluster's directory; safe to call twice. */
  stop(): Promise<void>;
}

/** Options of one start attempt. */
export interface StartAttemptOptions {
  baseDir: string;
  memstoreBytes: number;
  /** Epoch ms by which the server must answer, else the attempt fails. */
  deadline: number;
  log: (line: string) => void;
}

/** A start failure, with the name of the log that most likely explains it. */
class StartFailure extends Error {
  constructor(
    message: string,
    readonly logName: string,
  ) {
    super(message);
  }
}

/** Starts mon, OSD and RGW in a fresh temp directory and creates an S3 user with random keys. One attempt, no retries. */
export async function startCephCluster(options: StartAttemptOptions): Promise<CephCluster> {
  const { deadline, log } = options;
  const dir = mkdtempSync(join(options.baseDir, 'persistd-rgw-'));
  let record: PidRecord;
  try {
    record = new PidRecord(basename(dir), dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const daemons: Daemon[] = [];
  const track = (daemon: Daemon): void => {
    daemons.push(daemon);
    record.add(daemon.pid);
  };
  const conf = confPath(dir);
  const osd = new OsdSupervisor(['-c', conf, '-f', '-i', '0'], dir, track, log);

  let stopped = false;
  const killAllNow = (): void => {
    // Last resort when the process exits without stop(): the daemons would otherwise outlive us.
    for (const daemon of daemons) if (daemon.exit === undefined) safeKill(daemon.pid);
    try {
      rmSync(dir, { recursive: true, force: true });
      record.remove();
    } catch {
      // A dying daemon may still be writing; the next start cleans up whatever is left.
    }
  };
  process.once('exit', killAllNow);
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killAllNow);
    await osd.stop();
    await Promise.all(daemons.map((daemon) => daemon.kill()));
    rmSync(dir, { recursive: true, force: true });
    record.remove();
  };

  const started = Date.now();
  const step = (what: string): void => log(`  ${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
  try {
    const [monPort, rgwPort] = [await freePort(), await freePort()];
    const fsid = randomUUID();
    const osdUuid = randomUUID();
    for (const sub of ['run', 'log', 'crash', 'mon-a', 'osd-0', 'rgw']) mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(conf, renderCephConf({ dir, fsid, monPort, rgwPort, memstoreBytes: options.memstoreBytes }));
    writeFileSync(join(dir, 'keyring'), '');

    const tool = (command: string, args: string[], label: string, timeoutMs = 30_000): Promise<string> =>
      runTool(command, ['-c', conf, ...args], { cwd: dir, label, timeoutMs: Math.max(1_000, Math.min(timeoutMs, deadline - Date.now())) });

    await runTool(
      'monmaptool',
      ['--create', '--clobber', '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')],
      {
        cwd: dir,
        label: 'monmaptool --create',
        timeoutMs: 15_000,
      },
    ).catch(failWith('mon.a'));
    await tool('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')], 'ceph-mon --mkfs').catch(failWith('mon.a'));
    const mon = spawnDaemon('mon.a', 'ceph-mon', ['-c', conf, '-f', '-i', 'a'], dir);
    track(mon);
    step('mon started');

    // The mon takes a moment to accept commands; `osd create` is retried until it does.
    await retryUntil(deadline, 'ceph osd create', () => {
      if (mon.exit !== undefined)
        throw new StartFailure(`ceph-mon exited (${describeExit(mon.exit)}): ${lastLine(mon.outputTail())}`, 'mon.a');
      return tool('ceph', ['--connect-timeout', '10', 'osd', 'create', osdUuid], 'ceph osd create', 15_000);
    });
    step('OSD registered with the mon');
    await tool('ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid], 'ceph-osd --mkfs').catch(failWith('osd.0'));
    osd.start();
    step('OSD started');

    const rgw = spawnDaemon('client.rgw', 'radosgw', ['-c', conf, '-f', '-n', 'client.rgw'], dir);
    track(rgw);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await pollUntil(
      'RGW answering GET / with 200',
      async () => {
        if (mon.exit !== undefined) throw new StartFailure(`ceph-mon exited (${describeExit(mon.exit)})`, 'mon.a');
        if (osd.error !== undefined) throw new StartFailure(osd.error.message, 'osd.0');
        if (rgw.exit !== undefined)
          throw new StartFailure(`radosgw exited (${describeExit(rgw.exit)}): ${lastLine(rgw.outputTail())}`, 'client.rgw');
        return isAnswering(endpoint);
      },
      { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 200 },
    );
    step(`RGW answering on ${endpoint}${osd.restartCount > 0 ? ` (OSD restarted ${osd.restartCount}x)` : ''}`);

    // RGW generates the keys: passing them as arguments would show the secret in the process list.
    const userJson = await tool(
      'radosgw-admin',
      ['user', 'create', '--uid=test', '--display-name=test', '--gen-access-key', '--gen-secret'],
      'radosgw-admin user create',
    ).catch(failWith('client.rgw'));
    const { accessKeyId, secretAccessKey } = parseUserKeys(userJson);
    step('S3 user created');
    return { endpoint, accessKeyId, secretAccessKey, stop };
  } catch (err) {
    const logName = err instanceof StartFailure ? err.logName : 'client.rgw';
    const tail = logTail(join(dir, 'log', `${logName}.log`));
    const output = lastLines(
      daemons
        .filter((d) => d.name === logName)
        .at(-1)
        ?.outputTail() ?? '',
      10,
    );
    await stop();
    // The log usually says more than the daemon's stderr (which repeats only its errors).
    const detail =
      tail !== '' ? `--- last lines of ${logName}.log ---\n${tail}` : output !== '' ? `--- ${logName} output ---\n${output}` : '';
    throw new Error(`${messageOf(err)}${detail === '' ? '' : `\n${detail}`}`, { cause: err });
  }
}

/** The S3 keys from `radosgw-admin user create` output; never echoes the output (it holds the secret). */
function parseUserKeys(json: string): { accessKeyId: string; secretAccessKey: string } {
  try {
    const user = JSON.parse(json) as { keys?: { access_key?: unknown; secret_key?: unknown }[] };
    const key = user.keys?.[0];
    if (typeof key?.access_key === 'string' && typeof key.secret_key === 'string' && key.access_key !== '' && key.secret_key !== '') {
      return { accessKeyId: key.access_key, secretAccessKey: key.secret_key };
    }
  } catch {
    // reported below
  }
  throw new StartFailure('radosgw-admin user create did not print the new keys as expected', 'client.rgw');
}

function failWith(logName: string): (err: unknown) => never {
  return (err) => {
    throw new StartFailure(messageOf(err), logName);
  };
}

/** Calls `attempt` every 300 ms until it succeeds (a StartFailure ends it at once), failing at `deadline` with the last error. */
async function retryUntil<T>(deadline: number, what: string, attempt: () => Promise<T>): Promise<T> {
  let last: unknown;
  const tried = async (): Promise<{ value: T } | undefined> => {
    try {
      return { value: await attempt() };
    } catch (err) {
      if (err instanceof StartFailure) throw err;
      last = err;
      return undefined;
    }
  };
  try {
    return (await pollUntil(what, tried, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 300 })).value;
  } catch (err) {
    if (err instanceof StartFailure) throw err;
    throw new StartFailure(`${what} did not succeed before the start deadline: ${messageOf(last ?? err)}`, 'mon.a');
  }
}

async function isAnswering(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

function logTail(file: string, lines = 20): string {
  try {
    return lastLines(readFileSync(file, 'utf8'), lines);
  } catch {
    return '';
  }
}

function lastLines(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function lastLine(text: string): string {
  return lastLines(text, 1) || 'no output';
}

function safeKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
