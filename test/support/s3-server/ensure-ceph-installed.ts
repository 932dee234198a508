import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The Ceph programs the test server needs. */
const REQUIRED = ['monmaptool', 'ceph-mon', 'ceph-osd', 'ceph', 'radosgw', 'radosgw-admin'] as const;

const INSTALL_COMMAND = 'apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw';

/** The full path of `program` on PATH, or undefined (PATH only: that is where spawn looks too). */
export function findOnPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Makes sure the Ceph programs are installed: installs them with apt-get when running as root on a
 * Debian-like system, otherwise throws an error that says what to install or how to use another server.
 */
export async function ensureCephInstalled(log: (line: string) => void): Promise<void> {
  if (missingPrograms().length === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (isRoot && findOnPath('apt-get') !== undefined) {
    log(`Ceph is not installed; installing it for the test S3 server: apt-get update && ${INSTALL_COMMAND} (about 30 s)`);
    await runInherited('apt-get', ['update']);
    await runInherited('apt-get', ['install', '-y', '--no-install-recommends', 'ceph-mon', 'ceph-osd', 'radosgw']);
    const stillMissing = missingPrograms();
    if (stillMissing.length === 0) return;
    throw new Error(`installing Ceph did not provide: ${stillMissing.join(', ')}`);
  }
  const missing = missingPrograms();
  throw new Error(
    `the test S3 server needs Ceph, but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not on PATH.\n` +
      `Install it (Debian/Ubuntu, as root): apt-get update && ${INSTALL_COMMAND}\n` +
      'Or point the tests at another S3-compatible server: set PERSISTD_TEST_S3_ENDPOINT (e.g. http://127.0.0.1:9000), ' +
      'PERSISTD_TEST_S3_ACCESS_KEY_ID, PERSISTD_TEST_S3_SECRET_ACCESS_KEY and optionally PERSISTD_TEST_S3_REGION (default us-east-1).',
  );
}

function missingPrograms(): string[] {
  return REQUIRED.filter((program) => findOnPath(program) === undefined);
}

async function runInherited(command: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    // Output goes to our stderr so the person waiting sees apt's progress; stdout stays clean for the runner script.
    const child = spawn(command, args, {
      stdio: ['ignore', process.stderr, process.stderr],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${command} ${args[0] ?? ''} failed (${signal ?? `exit code ${String(code)}`}); install Ceph by hand: ${INSTALL_COMMAND}`,
          ),
        );
    });
  });
}
