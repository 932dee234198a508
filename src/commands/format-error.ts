import { messageOf, PersistdError } from '../errors.js';
import { redact } from '../log/redact.js';

/** Formats an error for the terminal as `persistd: <what failed>: <why>` and `hint: <what to do>`, with secrets removed. */
export function formatError(err: unknown, verbose = false): string {
  const lines: string[] = [];
  if (err instanceof PersistdError) {
    const where = err.path && !err.message.includes(err.path) ? ` (${err.path})` : '';
    lines.push(`persistd: ${err.message}${where}`);
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? err.cause.message : undefined;
    if (cause) lines.push(`cause: ${cause}`);
    if (err.hint) lines.push(`hint: ${err.hint}`);
  } else {
    lines.push(`persistd: unexpected error: ${messageOf(err)}`);
    lines.push('hint: this is a bug in persistd; run again with --log-level debug and report the output');
  }
  if (verbose && err instanceof Error && err.stack) lines.push(err.stack);
  return redact(lines.join('\n'));
}
