import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { messageOf } from '../errors.js';

/** The functions of the native reaper (native/reaper.c, built by node-gyp into build/Release). */
export interface ReaperAddon {
  /** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to this process; false where unsupported. */
  setSubreaper(): boolean;
  /** Whether this process is a child subreaper. */
  isSubreaper(): boolean;
  /** Reaps exited children except `keepPids` (never blocks); returns how many it reaped. */
  reap(keepPids: number[]): number;
}

/** The addon, or why it is not available. */
export type ReaperAddonLoad = { addon: ReaperAddon } | { addon?: undefined; reason: string };

/** Where `npm install` (node-gyp rebuild) puts the addon: build/ at the package root, two levels above dist/engine and src/engine. */
export const REAPER_ADDON_PATH = fileURLToPath(new URL('../../build/Release/persistd_reaper.node', import.meta.url));

/** Loads the native reaper; reports the reason instead of throwing when it was not built or cannot load here. */
export function loadReaperAddon(file: string = REAPER_ADDON_PATH): ReaperAddonLoad {
  if (process.platform !== 'linux') return { reason: `not supported on ${process.platform}` };
  try {
    const addon = createRequire(import.meta.url)(file) as Partial<ReaperAddon>;
    if (typeof addon.reap !== 'function' || typeof addon.setSubreaper !== 'function' || typeof addon.isSubreaper !== 'function') {
      return { reason: `${file} is not the persistd reaper addon` };
    }
    return { addon: addon as ReaperAddon };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { reason: code === 'MODULE_NOT_FOUND' ? `it was not built (${file} is missing)` : `it cannot be loaded: ${messageOf(err)}` };
  }
}
