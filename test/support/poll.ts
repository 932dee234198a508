/** How long pollUntil waits, how often it looks, and what it adds to its timeout error. */
export interface PollOptions {
  /** Fail after this long (default 20 s: generous, for a loaded 2-core machine). */
  timeoutMs?: number;
  /** Pause between checks (default 20 ms). */
  intervalMs?: number;
  /** More context for the timeout error, such as a process's stderr so far. */
  detail?: () => string;
  /** Count a check that throws as "not yet" (a server that is not listening yet); by default it fails the wait. */
  retryErrors?: boolean;
}

/**
 * The one polling helper of the tests: calls `check` until it returns something other than `false`
 * or `undefined`, and returns that (so a check can hand back what it found). Fails after the timeout
 * with "timed out after N ms waiting for <what>".
 */
export async function pollUntil<T>(
  what: string,
  check: () => T | false | undefined | Promise<T | false | undefined>,
  options: PollOptions | number = {},
): Promise<Exclude<T, false | undefined>> {
  const {
    timeoutMs = 20_000,
    intervalMs = 20,
    detail,
    retryErrors = false,
  } = typeof options === 'number' ? { timeoutMs: options } : options;
  const start = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== undefined) return value as Exclude<T, false | undefined>;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() - start > timeoutMs) {
      const extra = [detail?.(), lastError instanceof Error ? `last error: ${lastError.message}` : undefined].filter(Boolean);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra.length > 0 ? `; ${extra.join('; ')}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
