/**
 * The part buffers of every multipart upload of one store: at most `limit` buffers of `partSize` exist
 * at once, however many large files upload at the same time (a sync uploads up to its concurrency in
 * parallel, and each upload alone would want its own parts in flight). An upload waits for a buffer
 * when all are taken; every taken buffer is being filled from its stream or sent, so it always comes
 * back. Free buffers are reused while any upload still runs, and dropped when the last one ends.
 */
export class PartBufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiters: { take: (buffer: Buffer) => void }[] = [];
  private taken = 0;

  constructor(
    readonly partSize: number,
    readonly limit: number,
  ) {
    if (!(limit >= 1)) throw new RangeError(`limit must be at least 1, got ${limit}`);
  }

  /** Buffers handed out and not yet given back. */
  get inUse(): number {
    return this.taken;
  }

  /** A buffer of `partSize` bytes (contents undefined); waits while `limit` buffers are taken. */
  async acquire(signal?: AbortSignal): Promise<Buffer> {
    signal?.throwIfAborted();
    if (this.taken < this.limit) {
      this.taken++;
      return this.free.pop() ?? Buffer.allocUnsafeSlow(this.partSize);
    }
    return new Promise<Buffer>((resolve, reject) => {
      const waiter = {
        take: (buffer: Buffer): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(buffer);
        },
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /**
   * Gives a buffer back. `reusable: false` for a buffer that a failed request may still be reading
   * (a socket write can outlive the request's failure): it is dropped, never handed out again.
   */
  release(buffer: Buffer, reusable = true): void {
    const next = this.waiters.shift();
    if (next !== undefined) {
      next.take(reusable ? buffer : Buffer.allocUnsafeSlow(this.partSize));
      return;
    }
    this.taken--;
    if (this.taken === 0) this.free.length = 0;
    else if (reusable) this.free.push(buffer);
  }
}
