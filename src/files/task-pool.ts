/** Runs async tasks with at most `concurrency` at once; `add` waits while the pool is full, so producers stay bounded. */
export class TaskPool {
  private running = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly concurrency: number) {
    if (!(concurrency >= 1)) throw new RangeError(`concurrency must be at least 1, got ${concurrency}`);
  }

  /** Starts `task` once a slot is free; resolves when it has started. The task must handle its own errors. */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running >= this.concurrency) await new Promise<void>((r) => this.waiters.push(r));
    this.running++;
    void task()
      .catch(() => undefined)
      .finally(() => {
        this.running--;
        this.waiters.shift()?.();
        if (this.running === 0) for (const r of this.idleWaiters.splice(0)) r();
      });
  }

  /** Resolves when no task is running. */
  async drain(): Promise<void> {
    if (this.running === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }
}
