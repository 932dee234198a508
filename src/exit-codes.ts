import { PersistdError, type ErrorKind } from './errors.js';

/** Every exit code persistd uses; the README's table is this one. `run` passes the app's own code through. */
export const EXIT_CODES = Object.freeze({
  ok: 0,
  unexpected: 1,
  usage: 2,
  partial: 3,
  storage: 4,
  noBackup: 5,
  /** `status`: no running, healthy instance (shares 1 with unexpected errors). */
  notHealthy: 1,
  /** `run`: the app command is not executable (as in a shell). */
  appNotExecutable: 126,
  /** `run`: the app command is not found (as in a shell). */
  appNotFound: 127,
  interrupted: 130,
});

const BY_KIND: Record<ErrorKind, number> = {
  usage: EXIT_CODES.usage,
  partial: EXIT_CODES.partial,
  storage: EXIT_CODES.storage,
  'no-backup': EXIT_CODES.noBackup,
  interrupted: EXIT_CODES.interrupted,
  integrity: EXIT_CODES.unexpected,
  internal: EXIT_CODES.unexpected,
};

/** The exit code for a thrown value: the one place where error kinds become process exit codes. */
export function exitCodeFor(err: unknown): number {
  return err instanceof PersistdError ? (err.exitCode ?? BY_KIND[err.kind]) : EXIT_CODES.unexpected;
}
