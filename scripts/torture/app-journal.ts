import { readFileSync } from 'node:fs';

/** What one launch of the torture app journaled (see torture-app.py). */
export interface LaunchJournal {
  launch: number;
  start: { at: number; pid: number; n: number; integrity: string; consistent: boolean } | undefined;
  /** Committed transactions in order: number and commit time (ms since the epoch). */
  commits: Array<{ i: number; at: number }>;
  /** Files closed and renamed, in order. */
  files: Array<{ name: string; j: number; at: number }>;
}

/** Reads a launch's journal; a missing file is a launch that never started. A torn last line is ignored. */
export function readLaunchJournal(path: string, launch: number): LaunchJournal {
  const journal: LaunchJournal = { launch, start: undefined, commits: [], files: [] };
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return journal;
    throw err;
  }
  const lines = text.split('\n');
  // The last element is '' after a complete line, or a line cut short by SIGKILL.
  for (const line of lines.slice(0, -1)) {
    const f = line.split(' ');
    if (f[0] === 'S' && f.length === 6)
      journal.start = { at: Number(f[1]), pid: Number(f[2]), n: Number(f[3]), integrity: f[4]!, consistent: f[5] === '1' };
    else if (f[0] === 'T' && f.length === 3) journal.commits.push({ at: Number(f[1]), i: Number(f[2]) });
    else if (f[0] === 'F' && f.length === 4) journal.files.push({ at: Number(f[1]), name: f[2]!, j: Number(f[3]) });
  }
  return journal;
}

/** The bytes of row i's pad as launch `launch` writes it (torture-app.py `pad`). */
export function expectedPad(i: number, launch: number, length: number): Buffer {
  const unit = `${launch}.${i};`;
  return Buffer.from(unit.repeat(Math.ceil(length / unit.length) + 1).slice(0, length));
}

/** The bytes of file j of a launch (torture-app.py `file_bytes`). */
export function expectedFile(launch: number, j: number): Buffer {
  const head = `round ${launch} file ${j}\n`;
  const unit = `<${launch}:${j}>`;
  const length = 64 + ((j * 7919) % 30000);
  return Buffer.from(head + unit.repeat(Math.ceil(length / unit.length) + 1).slice(0, length));
}

/** The final name of file j (torture-app.py). */
export function fileName(j: number): string {
  return `f${String(j % 12).padStart(2, '0')}.bin`;
}
