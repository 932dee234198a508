import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { realpath } from 'node:fs/promises';

/** Access-mode bits of the `flags:` line of /proc/<pid>/fdinfo/<fd> (octal): 1 = O_WRONLY, 2 = O_RDWR. */
const O_ACCMODE = 0o3;

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'ENOTDIR';
}

/**
 * Whether some process holds `path` open for writing, from Linux's /proc: `true`, `false`, or `undefined`
 * when that cannot be known (no /proc, or a process whose descriptors this user may not read). Asked only
 * about files that keep changing. The walk is synchronous on purpose: the answer is only worth anything
 * while it is fresh (a file rewritten every few ms moves on), and /proc answers from memory (about 3 ms
 * for 75 processes and 450 descriptors; a container has a handful).
 */
export async function heldOpenForWriting(path: string | Buffer): Promise<boolean | undefined> {
  let target: Buffer; // bytes: a name that is not valid UTF-8 must not match another one
  let pids: string[];
  try {
    target = await realpath(path, { encoding: 'buffer' });
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid); // persistd only reads
  } catch {
    return undefined;
  }
  let unknown = false;
  for (const pid of pids) {
    const holds = processHoldsForWriting(pid, target);
    if (holds === true) return true;
    if (holds === undefined) unknown = true;
  }
  return unknown ? undefined : false;
}

/** Whether process `pid` has `target` open for writing; undefined when its descriptors cannot be read. */
function processHoldsForWriting(pid: string, target: Buffer): boolean | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    return isMissing(err) ? false : undefined; // EACCES: another user's process
  }
  for (const fd of fds) {
    let link: Buffer;
    let info: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'buffer' });
      if (!link.equals(target)) continue;
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed in between
    }
    const flags = /^flags:\s*([0-7]+)/m.exec(info)?.[1];
    if (flags !== undefined && (parseInt(flags, 8) & O_ACCMODE) !== 0) return true;
  }
  return false;
}
