import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DbFingerprint, FileIdentity } from './db-fingerprint.js';

/**
 * What persistd remembers locally about the last snapshot of one database, so that after a restart
 * it knows, without asking the store, which generation it writes and whether anything changed.
 */
export interface SnapshotState {
  v: 1;
  /** `store.description`: state of another store never counts. */
  store: string;
  path: string;
  generation: string;
  lastSeq: string;
  identity: FileIdentity;
  /** Fingerprint read just before the last snapshot's read transaction began. */
  fingerprint: DbFingerprint;
  at: string;
}

/** `<stateDir>/sqlite/<name>.json`. */
export function snapshotStatePath(stateDir: string, name: string): string {
  return join(stateDir, 'sqlite', `${name}.json`);
}

/** The remembered state, or undefined when there is none or it cannot be read (then the next snapshot starts a generation). */
export async function readSnapshotState(stateDir: string, name: string): Promise<SnapshotState | undefined> {
  try {
    const parsed = JSON.parse(await readFile(snapshotStatePath(stateDir, name), 'utf8')) as Partial<SnapshotState>;
    if (
      parsed.v !== 1 ||
      typeof parsed.generation !== 'string' ||
      typeof parsed.lastSeq !== 'string' ||
      !parsed.identity ||
      !parsed.fingerprint
    )
      return undefined;
    return parsed as SnapshotState;
  } catch {
    return undefined;
  }
}

/** Writes the state atomically (temp file and rename). */
export async function writeSnapshotState(stateDir: string, name: string, state: SnapshotState): Promise<void> {
  const path = snapshotStatePath(stateDir, name);
  await mkdir(join(stateDir, 'sqlite'), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(state));
  await rename(temp, path);
}
