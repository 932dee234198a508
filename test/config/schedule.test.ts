import { describe, expect, it } from 'vitest';
import { parseSchedule } from '../../src/config/schedule.js';

describe('parseSchedule', () => {
  it('parses durations and cron expressions, and rejects anything else', () => {
    expect(parseSchedule('5m')).toEqual({ kind: 'interval', ms: 300_000, text: '5m' });
    expect(parseSchedule('30s')).toMatchObject({ kind: 'interval', ms: 30_000 });
    expect(parseSchedule(' 0 2 * * * ')).toEqual({ kind: 'cron', expression: '0 2 * * *', text: '0 2 * * *' });
    expect(() => parseSchedule('every hour')).toThrow(/neither a duration nor a cron expression/);
    expect(() => parseSchedule('100ms')).toThrow(/shorter than 1s/);
    expect(() => parseSchedule('99 * * * *')).toThrow();
  });
});
