import { describe, expect, it } from 'vitest';
import { PartBufferPool } from '../../src/store/part-buffer-pool.js';

describe('PartBufferPool', () => {
  it('hands out at most `limit` buffers; the next waits until one comes back, and gets that one', async () => {
    const pool = new PartBufferPool(1024, 2);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(a).toHaveLength(1024);
    expect(a).not.toBe(b);
    let third: Buffer | undefined;
    const waiting = pool.acquire().then((buffer) => (third = buffer));
    await new Promise((r) => setImmediate(r));
    expect(third).toBeUndefined();
    expect(pool.inUse).toBe(2);
    pool.release(a);
    await waiting;
    expect(third).toBe(a);
    expect(pool.inUse).toBe(2);
  });

  it('never hands out again a buffer given back as not reusable', async () => {
    const pool = new PartBufferPool(64, 1);
    const a = await pool.acquire();
    const waiting = pool.acquire();
    pool.release(a, false);
    const b = await waiting;
    expect(b).not.toBe(a);
    expect(b).toHaveLength(64);
    const pool2 = new PartBufferPool(64, 2);
    const [c, d] = [await pool2.acquire(), await pool2.acquire()];
    pool2.release(c, false);
    expect(await pool2.acquire()).not.toBe(c);
    pool2.release(d);
  });

  it('reuses free buffers while uploads run and drops them all once every buffer is back', async () => {
    const pool = new PartBufferPool(64, 3);
    const [a, b] = [await pool.acquire(), await pool.acquire()];
    pool.release(a);
    expect(await pool.acquire()).toBe(a); // b is still out: a was kept
    pool.release(a);
    pool.release(b);
    expect(pool.inUse).toBe(0);
    const c = await pool.acquire();
    expect(c).not.toBe(a);
    expect(c).not.toBe(b);
  });

  it('an abort while waiting rejects with the reason and takes the waiter out of line', async () => {
    const pool = new PartBufferPool(64, 1);
    const a = await pool.acquire();
    const controller = new AbortController();
    const aborted = pool.acquire(controller.signal);
    const later = pool.acquire();
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    pool.release(a);
    expect(await later).toBe(a);
    await expect(pool.acquire(AbortSignal.abort())).rejects.toThrow();
  });
});
