import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLEAR_LINE } from '../../src/log/live-line.js';
import { createLogger } from '../../src/log/logger.js';
import { createProgress } from '../../src/log/progress.js';
import { CaptureStream } from './capture-stream.js';
import { pollUntil } from '../support/poll.js';

interface Entry {
  level: number;
  msg: string;
  [field: string]: unknown;
}

function jsonEntries(out: CaptureStream): Entry[] {
  return out
    .text()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Entry);
}

/** A clock the test moves by hand, so rates and durations are exact. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('createProgress off a terminal', () => {
  it('logs a line every interval and one summary with the right counts', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const logOut = new CaptureStream();
    const logger = createLogger({ level: 'info', destination: logOut, pretty: false });
    const clock = manualClock();
    const progress = createProgress({
      label: 'restore files',
      totalItems: 10,
      totalBytes: 10 * 1024,
      logger,
      stream: new CaptureStream(),
      intervalMs: 100,
      now: clock.now,
    });

    progress.add(2, 2048);
    clock.advance(1000);
    vi.advanceTimersByTime(100);
    progress.add(3, 3072);
    clock.advance(1000);
    vi.advanceTimersByTime(100);
    progress.add(5, 5120);
    clock.advance(500);
    const summary = progress.done();

    expect(summary).toMatchObject({ items: 10, bytes: 10240, elapsedMs: 2500 });
    const entries = jsonEntries(logOut);
    expect(entries.map((e) => e.msg)).toEqual([
      'restore files: 2/10 items, 2 KiB/10 KiB, 2 KiB/s, ETA 4s',
      'restore files: 5/10 items, 5 KiB/10 KiB, 2.5 KiB/s, ETA 2s',
      'restore files: done, 10 items, 10 KiB in 2.5s (4 KiB/s)',
    ]);
    expect(entries[2]).toMatchObject({ level: 30, progress: 'restore files', items: 10, bytes: 10240, seconds: 2.5, bytesPerSecond: 4096 });

    // No timer left behind, and nothing more is logged.
    expect(vi.getTimerCount()).toBe(0);
    progress.add(1, 1);
    expect(progress.done()).toBe(summary);
    expect(jsonEntries(logOut)).toHaveLength(3);
  });

  it('fires on real timers with a tiny interval and stops after done()', async () => {
    const logOut = new CaptureStream();
    const logger = createLogger({ level: 'info', destination: logOut, pretty: false });
    const progress = createProgress({ label: 'upload snapshot', logger, stream: new CaptureStream(), intervalMs: 10 });
    progress.add(1, 100);
    await pollUntil('two log lines', () => jsonEntries(logOut).length >= 2);
    progress.setTotals({ items: 4 });
    progress.add(3, 300);
    progress.done();
    const entries = jsonEntries(logOut);
    expect(entries.at(-1)?.msg).toMatch(/^upload snapshot: done, 4 items, 400 B in [\d.]+m?s \(.+\/s\)$/);
    expect(entries.slice(0, -1).every((e) => e.msg.startsWith('upload snapshot: 1 item, 100 B'))).toBe(true);
  });

  it('leaves bytes out of operations that count only items', () => {
    const logOut = new CaptureStream();
    const logger = createLogger({ level: 'info', destination: logOut, pretty: false });
    const clock = manualClock();
    const progress = createProgress({ label: 'delete', logger, stream: new CaptureStream(), now: clock.now });
    progress.add(1);
    clock.advance(20);
    progress.done();
    expect(jsonEntries(logOut).map((e) => e.msg)).toEqual(['delete: done, 1 item in 20ms']);
  });

  it('fail() logs a warning with how far it got and the redacted error', () => {
    const logOut = new CaptureStream();
    const logger = createLogger({ level: 'info', destination: logOut, pretty: false });
    const clock = manualClock();
    const progress = createProgress({ label: 'restore files', totalItems: 4, logger, stream: new CaptureStream(), now: clock.now });
    progress.add(1, 10);
    clock.advance(1500);
    progress.fail(new Error('GET failed: https://bucket/x?X-Amz-Signature=deadbeefcafe'));
    progress.done();
    const entries = jsonEntries(logOut);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ level: 40, msg: 'restore files: stopped after 1/4 items, 10 B, 7 B/s in 1.5s' });
    expect(logOut.text()).not.toContain('deadbeefcafe');
  });
});

describe('createProgress on a terminal', () => {
  it('redraws one line with \\r and clears it before the summary', async () => {
    const tty = new CaptureStream({ isTTY: true });
    const logOut = new CaptureStream();
    const logger = createLogger({ level: 'info', destination: logOut, pretty: false });
    const progress = createProgress({ label: 'restore files', totalItems: 3, totalBytes: 3000, logger, stream: tty, intervalMs: 10 });
    progress.add(1, 1000);
    await pollUntil('the 1/3 line', () => tty.chunks.some((c) => c.includes('1/3 items')));
    progress.add(2, 2000);
    await pollUntil('the 3/3 line', () => tty.chunks.some((c) => c.includes('3/3 items')));
    progress.done();

    const redraws = tty.chunks.slice(0, -1);
    expect(redraws.length).toBeGreaterThanOrEqual(2);
    for (const chunk of redraws) {
      expect(chunk.startsWith('\r')).toBe(true);
      expect(chunk).not.toContain('\n');
    }
    expect(tty.chunks.at(-1)).toBe(CLEAR_LINE);
    // eslint-disable-next-line no-control-regex -- the live line ends with the terminal's erase-line escape
    expect(tty.text()).toMatch(/restore files: 1\/3 items, 1000 B\/2.93 KiB, .+\/s(, ETA .+)?\x1b\[K/);
    // Periodic lines go to the terminal only; the log gets the one summary.
    expect(jsonEntries(logOut).map((e) => e.msg)).toEqual([expect.stringMatching(/^restore files: done, 3 items, 2.93 KiB in /)]);
  });

  it('writes log lines above the live line on the same terminal, then redraws it', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const tty = new CaptureStream({ isTTY: true });
    const logger = createLogger({ level: 'info', destination: tty, pretty: false });
    const progress = createProgress({ label: 'sync', totalItems: 2, logger, stream: tty, intervalMs: 10 });
    progress.add(1);
    logger.warn('slow request');
    const logChunk = tty.chunks.find((c) => c.includes('slow request'));
    expect(logChunk).toBeDefined();
    expect(logChunk!.startsWith(CLEAR_LINE)).toBe(true);
    // eslint-disable-next-line no-control-regex -- the live line ends with the terminal's erase-line escape
    expect(logChunk).toMatch(/^\r\x1b\[K\{.*"msg":"slow request"\}\nsync: 1\/2 items(, ETA .+)?$/);
    progress.done();
    // Once done, log lines are written plainly.
    logger.info('after');
    expect(tty.chunks.at(-1)).toMatch(/^\{.*"msg":"after"\}\n$/);
  });

  it('lets only one reporter own the terminal line; the other logs instead', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const tty = new CaptureStream({ isTTY: true });
    const logOut = new CaptureStream();
    const logger = createLogger({ level: 'info', destination: logOut, pretty: false });
    const first = createProgress({ label: 'first', logger, stream: tty, intervalMs: 10 });
    const second = createProgress({ label: 'second', logger, stream: tty, intervalMs: 10 });
    vi.advanceTimersByTime(10);
    expect(tty.text()).toContain('first: 0 items');
    expect(tty.text()).not.toContain('second');
    expect(jsonEntries(logOut).map((e) => e.msg)).toEqual(['second: 0 items']);
    first.done();
    second.done();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cuts the line to the terminal width so \\r can redraw it', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const tty = Object.assign(new CaptureStream({ isTTY: true }), { columns: 20 });
    const logger = createLogger({ level: 'silent', destination: new CaptureStream() });
    const progress = createProgress({ label: 'a very long label that would wrap', logger, stream: tty });
    const first = tty.chunks[0]!;
    expect(first.replace('\r', '').replace('\x1b[K', '').length).toBeLessThan(20);
    progress.done();
  });
});
