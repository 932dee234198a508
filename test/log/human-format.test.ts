import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatRate } from '../../src/log/human-format.js';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 + 205, '10.2 KiB'],
    [123.4 * 1024 * 1024, '123 MiB'],
    [1024 * 1024 - 1, '1 MiB'],
    [5 * 1024 ** 3, '5 GiB'],
    [2.25 * 1024 ** 4, '2.25 TiB'],
  ])('%d bytes → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('does not print nonsense for invalid input', () => {
    expect(formatBytes(Number.NaN)).toBe('? B');
    expect(formatBytes(-1)).toBe('? B');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [1000, '1s'],
    [12_340, '12.3s'],
    [59_900, '59.9s'],
    [60_000, '1m00s'],
    [245_000, '4m05s'],
    [3_600_000, '1h00m'],
    [7_380_000, '2h03m'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatRate', () => {
  it('divides bytes by seconds', () => {
    expect(formatRate(3 * 1024 * 1024, 2000)).toBe('1.5 MiB/s');
    expect(formatRate(500, 1000)).toBe('500 B/s');
  });

  it('has no rate before time has passed', () => {
    expect(formatRate(100, 0)).toBe('-');
  });
});
