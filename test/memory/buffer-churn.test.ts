import { afterEach, describe, expect, it } from 'vitest';
import { collectBufferChurn, noteBufferChurn } from '../../src/memory/buffer-churn.js';
import { exposedCollector } from '../../src/memory/exposed-collector.js';

const MiB = 1 << 20;

describe('buffer churn', () => {
  afterEach(() => collectBufferChurn(undefined));

  it('does nothing once turned off', () => {
    const calls: unknown[] = [];
    collectBufferChurn((options) => calls.push(options));
    collectBufferChurn(undefined);
    noteBufferChurn(64 * MiB);
    expect(calls).toEqual([]);
  });

  it('runs a young-generation collection once every 4 MiB of dropped buffers', () => {
    const calls: unknown[] = [];
    collectBufferChurn((options) => calls.push(options));
    for (let i = 0; i < 10; i++) noteBufferChurn(MiB);
    expect(calls).toEqual([{ type: 'minor' }, { type: 'minor' }]);
    noteBufferChurn(2 * MiB); // 2 + 2 MiB since the last one
    expect(calls).toHaveLength(3);
  });

  it("exposes V8's collector, which runs a young-generation collection", () => {
    const collect = exposedCollector();
    expect(typeof collect).toBe('function');
    expect(() => collect!({ type: 'minor' })).not.toThrow();
    expect(exposedCollector()).toBe(collect);
  });
});
