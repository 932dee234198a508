/**
 * The one status line (a progress bar) currently drawn at the bottom of a terminal, so that log
 * lines written to the same terminal go above it instead of through it, and so that two progress
 * reporters do not fight over the same line.
 */

/** Renders the current content of the live line (no `\r`, no newline). */
export type LiveLineRenderer = () => string;

/** ANSI: move to column 0 and erase to the end of the line. */
export const CLEAR_LINE = '\r\x1b[K';

// Keyed by file descriptor when there is one, since process.stderr and a logger writing to fd 2
// are different objects on the same terminal.
const liveLines = new Map<unknown, LiveLineRenderer>();

/** The key under which a destination's live line is registered: its fd if it has one, else itself. */
export function terminalKey(target: NodeJS.WritableStream | number): unknown {
  if (typeof target === 'number') return target;
  const fd = (target as { fd?: unknown }).fd;
  return typeof fd === 'number' ? fd : target;
}

/** Takes the live line of a terminal; returns a release function, or undefined if someone else holds it. */
export function claimLiveLine(target: NodeJS.WritableStream | number, render: LiveLineRenderer): (() => void) | undefined {
  const key = terminalKey(target);
  if (liveLines.has(key)) return undefined;
  liveLines.set(key, render);
  return () => {
    if (liveLines.get(key) === render) liveLines.delete(key);
  };
}

/**
 * Wraps a block of complete lines about to be written to `target` so that they appear above the
 * live line: clear it, write the lines, draw it again. Returns `text` as it is when no line is live.
 */
export function aroundLiveLine(target: NodeJS.WritableStream | number, text: string): string {
  const render = liveLines.get(terminalKey(target));
  if (render === undefined) return text;
  return `${CLEAR_LINE}${text}${render()}`;
}
