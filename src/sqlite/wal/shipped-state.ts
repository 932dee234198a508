import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChainTally, ContinuationBase } from '../../format/db-manifest.js';
import type { DbFingerprint, FileIdentity } from '../db-fingerprint.js';

/**
 * What a WalShipper that stopped cleanly (everything committed shipped, connections closed) left
 * behind, so that a restart that kept its disk can continue the generation instead of storing the
 * database again: the replicated state the file is, and the file as it was then.
 */
export interface ShippedState {
  v: 1;
  /** `store.description`: state of another store never counts. */
  store: string;
  path: string;
  identity: FileIdentity;
  fingerprint: DbFingerprint;
  /** The replicated state the file holds: a restore point of the generation and its segments up to a WAL position. */
  base: ContinuationBase;
  chain: ChainTally;
  at: string;
}

/** `<stateDir>/sqlite/<name>.shipped.json`. */
export function shippedStatePath(stateDir: string, name: string): string {
  return join(stateDir, 'sqlite', `${name}.shipped.json`);
}

/** Reads and removes the record (it describes one stop only); undefined when there is none or it cannot be read. */
export async function takeShippedState(stateDir: string, name: string): Promise<ShippedState | undefined> {
  const path = shippedStatePath(stateDir, name);
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<ShippedState>;
    await rm(path, { force: true });
    if (parsed.v !== 1 || typeof parsed.store !== 'string' || !parsed.identity || !parsed.fingerprint || !parsed.base || !parsed.chain)
      return undefined;
    return parsed as ShippedState;
  } catch {
    return undefined;
  }
}

/** Writes the record atomically (temp file and rename). */
export async function writeShippedState(stateDir: string, name: string, state: ShippedState): Promise<void> {
  const path = shippedStatePath(stateDir, name);
  await mkdir(join(stateDir, 'sqlite'), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(state));
  await rename(temp, path);
}
