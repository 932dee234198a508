import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseSchedule } from '../../src/config/schedule.js';
import { startSchedule } from '../../src/engine/start-schedule.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('startSchedule', () => {
  it('runs an interval job without overlap, counting from the end of each run, until stopped', async () => {
    vi.useFakeTimers();
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const job = startSchedule({ kind: 'interval', ms: 5, text: '5ms' }, async () => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((resolve) => setTimeout(resolve, 10));
      runs++;
      concurrent--;
    });
    // Each run takes 10 ms and the next starts 5 ms after it ended: runs end at 15, 30, 45 ms.
    await vi.advanceTimersByTimeAsync(14);
    expect(runs).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(1);
    await vi.advanceTimersByTimeAsync(30);
    expect(runs).toBe(3);
    job.stop();
    await job.idle();
    // Every timer the schedule could still have armed fires within this much fake time.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
    expect(maxConcurrent).toBe(1);
  });

  it('lets a run in progress finish after stop, and starts no other', async () => {
    vi.useFakeTimers();
    let started = 0;
    let finished = 0;
    const job = startSchedule({ kind: 'interval', ms: 5, text: '5ms' }, async () => {
      started++;
      await new Promise((resolve) => setTimeout(resolve, 100));
      finished++;
    });
    await vi.advanceTimersByTimeAsync(5);
    expect(started).toBe(1);
    job.stop();
    const idle = job.idle();
    await vi.advanceTimersByTimeAsync(100);
    await idle;
    expect(finished).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(started).toBe(1);
  });

  it('runs a cron job (every second) until stopped', async () => {
    let runs = 0;
    let firstRun: () => void = () => undefined;
    const ran = new Promise<void>((resolve) => {
      firstRun = resolve;
    });
    const job = startSchedule(parseSchedule('* * * * * *'), async () => {
      runs++;
      firstRun();
    });
    await ran;
    job.stop();
    expect(runs).toBeGreaterThanOrEqual(1);
  });
});
