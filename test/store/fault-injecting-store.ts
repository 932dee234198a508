import type { Readable } from 'node:stream';
import type {
  CopyOptions,
  GetOptions,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  ObjectWithInfo,
  PutBody,
  PutOptions,
  RequestOptions,
  StoreCapabilities,
} from '../../src/store/object-store.js';

type Operation = 'put' | 'get' | 'head' | 'list' | 'delete' | 'copy';

/**
 * Test-only: a real store with faults injected in front of it. `failNext(op, n, make)` makes the
 * next n calls of `op` throw `make()` before reaching the real store (for `list`: after yielding
 * `failListAfter` items); `gate` holds every call until opened, to observe concurrency.
 */
export class FaultInjectingStore implements ObjectStore {
  readonly calls: Record<Operation, number> = { put: 0, get: 0, head: 0, list: 0, delete: 0, copy: 0 };
  inFlight = 0;
  maxInFlight = 0;
  failListAfter = 0;
  private readonly faults: Partial<Record<Operation, { remaining: number; make: () => Error }>> = {};
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor(private readonly inner: ObjectStore) {}

  get description(): string {
    return `faulty ${this.inner.description}`;
  }

  get capabilities(): StoreCapabilities {
    return this.inner.capabilities;
  }

  failNext(op: Operation, times: number, make: () => Error): void {
    this.faults[op] = { remaining: times, make };
  }

  /** From now on, calls wait until `open()` is called. */
  closeGate(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo> {
    return this.call('put', () => this.inner.put(key, body, options));
  }

  get(key: string, options?: GetOptions): Promise<Readable> {
    return this.call('get', () => this.inner.get(key, options));
  }

  /** Counted and failed as a `get`. */
  getWithInfo(key: string, options?: GetOptions): Promise<ObjectWithInfo> {
    return this.call('get', () => this.inner.getWithInfo(key, options));
  }

  copy(sourceKey: string, destKey: string, options?: CopyOptions): Promise<void> {
    return this.call('copy', () => this.inner.copy(sourceKey, destKey, options));
  }

  head(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined> {
    return this.call('head', () => this.inner.head(key, options));
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    this.calls.list++;
    const fault = this.takeFault('list');
    let yielded = 0;
    for await (const info of this.inner.list(prefix, options)) {
      if (fault !== undefined && yielded === this.failListAfter) throw fault;
      yielded++;
      yield info;
    }
    if (fault !== undefined) throw fault;
  }

  delete(keys: readonly string[], options?: RequestOptions): Promise<void> {
    return this.call('delete', () => this.inner.delete(keys, options));
  }

  private takeFault(op: Operation): Error | undefined {
    const fault = this.faults[op];
    if (fault === undefined || fault.remaining <= 0) return undefined;
    fault.remaining--;
    return fault.make();
  }

  private async call<T>(op: Operation, run: () => Promise<T>): Promise<T> {
    this.calls[op]++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.gate !== undefined) await this.gate;
      const fault = this.takeFault(op);
      if (fault !== undefined) throw fault;
      return await run();
    } finally {
      this.inFlight--;
    }
  }
}
