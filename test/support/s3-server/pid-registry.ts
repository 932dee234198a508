import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where every running test server records its daemons, so a later start can clean up after a killed run.
 * One per user: another user's daemons are not ours to kill, and their directory is not ours to write.
 */
export const REGISTRY_DIR = `/tmp/persistd-test-rgw${process.getuid?.() === 0 ? '' : `-${String(process.getuid?.() ?? 'user')}`}/pids`;

/** One test server's entry: who started it, where its state lives, which daemons belong to it. */
interface RegistryEntry {
  ownerPid: number;
  /** The owner's start time from /proc, so a recycled pid is not mistaken for a live owner. */
  ownerStart: string | undefined;
  dir: string;
  pids: number[];
}

/** The pid file of one running server; rewritten whenever a daemon starts, removed at stop. */
export class PidRecord {
  private readonly file: string;
  private readonly entry: RegistryEntry;

  constructor(id: string, dir: string) {
    mkdirSync(REGISTRY_DIR, { recursive: true });
    this.file = join(REGISTRY_DIR, `${id}.json`);
    this.entry = { ownerPid: process.pid, ownerStart: processStartTime(process.pid), dir, pids: [] };
    this.write();
  }

  /** Records a daemon's pid before anything else can go wrong. */
  add(pid: number): void {
    if (pid > 0) this.entry.pids.push(pid);
    this.write();
  }

  /** Forgets this server (its daemons are gone and its directory deleted). */
  remove(): void {
    rmSync(this.file, { force: true });
  }

  private write(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.entry));
    renameSync(tmp, this.file);
  }
}

/**
 * Kills the daemons of servers whose owner process is gone (a test run killed with SIGKILL) and deletes
 * their directories. Servers of live owners (another test run on this machine) are left alone.
 * Returns how many stale servers were cleaned up.
 */
export function cleanUpStaleServers(log: (line: string) => void): number {
  let files: string[];
  try {
    files = readdirSync(REGISTRY_DIR).filter((name) => name.endsWith('.json'));
  } catch {
    return 0;
  }
  let cleaned = 0;
  for (const name of files) {
    const file = join(REGISTRY_DIR, name);
    const entry = readEntry(file);
    if (entry === undefined) {
      rmSync(file, { force: true });
      continue;
    }
    if (isAlive(entry.ownerPid) && processStartTime(entry.ownerPid) === entry.ownerStart) continue;
    const killed = entry.pids.filter((pid) => killIfOurs(pid, entry.dir));
    rmSync(entry.dir, { recursive: true, force: true });
    rmSync(file, { force: true });
    log(
      `cleaned up a stale test S3 server from a killed run (owner pid ${entry.ownerPid}, ${killed.length} daemon(s) killed, ${entry.dir} deleted)`,
    );
    cleaned++;
  }
  return cleaned;
}

function readEntry(file: string): RegistryEntry | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<RegistryEntry>;
    if (typeof parsed.ownerPid !== 'number' || typeof parsed.dir !== 'string' || !Array.isArray(parsed.pids)) return undefined;
    // Never let a corrupt entry point the recursive delete at something that is not one of our temp dirs.
    if (!/persistd-rgw-/.test(parsed.dir)) return undefined;
    return parsed as RegistryEntry;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs `pid` only if its command line still names our cluster directory (the pid may have been reused). */
function killIfOurs(pid: number, dir: string): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  if (!cmdline.includes(dir)) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); the command name in field 2 may contain spaces, so count from its closing paren.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
