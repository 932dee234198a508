import { spawn } from 'node:child_process';
import { findOnPath } from './s3-server/ensure-ceph-installed.js';

/** Whether the `age` and `age-keygen` programs are there for the interoperability tests, and why not. */
export type AgeCliStatus = { available: true; age: string; ageKeygen: string } | { available: false; reason: string };

const INSTALL_HINT = 'install it (Debian/Ubuntu, as root): apt-get update && apt-get install -y age';

/**
 * Makes sure `age` is installed: installs it with apt-get when running as root on a Debian-like system.
 * Never throws: when it cannot be installed the age interoperability tests are skipped, saying why.
 */
export async function ensureAgeInstalled(log: (line: string) => void): Promise<AgeCliStatus> {
  const found = locate();
  if (found.available) return found;
  if (process.getuid?.() === 0 && findOnPath('apt-get') !== undefined) {
    log('the age CLI is not installed; installing it for the age interoperability tests: apt-get update && apt-get install -y age');
    try {
      await run('apt-get', ['update']);
      await run('apt-get', ['install', '-y', '--no-install-recommends', 'age']);
    } catch (err) {
      return { available: false, reason: `installing age failed (${(err as Error).message}); ${INSTALL_HINT}` };
    }
    return locate();
  }
  return { available: false, reason: `age is not on PATH and this is not root with apt-get; ${INSTALL_HINT}` };
}

function locate(): AgeCliStatus {
  const age = findOnPath('age');
  const ageKeygen = findOnPath('age-keygen');
  if (age !== undefined && ageKeygen !== undefined) return { available: true, age, ageKeygen };
  return { available: false, reason: `age or age-keygen is not on PATH; ${INSTALL_HINT}` };
}

async function run(command: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', process.stderr, process.stderr],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args[0] ?? ''}: ${signal ?? `exit code ${String(code)}`}`)),
    );
  });
}
