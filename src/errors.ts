/** What kind of failure an error is; the CLI maps each kind to one documented exit code. */
export type ErrorKind =
  | 'usage' // bad flag, bad config value, missing configuration: exit 2
  | 'partial' // some targets were backed up, others failed: exit 3
  | 'storage' // store unreachable, auth failed, bucket missing: exit 4
  | 'no-backup' // a backup was required and none exists: exit 5
  | 'interrupted' // stopped by a signal: exit 130
  | 'integrity' // data read back does not verify (checksum, integrity_check): exit 1
  | 'internal'; // anything unexpected: exit 1

/** Fields of a PersistdError besides its message. */
export interface PersistdErrorOptions {
  kind?: ErrorKind;
  /** The operation that failed, e.g. `restore`, `put`, `read config`. */
  op?: string;
  /** The path or key the operation was working on. */
  path?: string;
  /** What the user can do about it, printed as `hint: ...`. */
  hint?: string;
  cause?: unknown;
  /** A specific process exit code that overrides the one of `kind` (e.g. 127 for an app command not found). */
  exitCode?: number;
}

/** The one error type persistd raises for anything a user may see: what failed, where, why, and what to do next. */
export class PersistdError extends Error {
  readonly kind: ErrorKind;
  readonly op: string | undefined;
  readonly path: string | undefined;
  readonly hint: string | undefined;
  readonly exitCode: number | undefined;

  constructor(message: string, options: PersistdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PersistdError';
    this.kind = options.kind ?? 'internal';
    this.op = options.op;
    this.path = options.path;
    this.hint = options.hint;
    this.exitCode = options.exitCode;
  }
}

/** A usage or configuration error: always exit code 2. */
export function usageError(message: string, hint?: string): PersistdError {
  return new PersistdError(message, { kind: 'usage', op: 'configure', hint });
}

/** The message of any thrown value, without assuming it is an Error. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
