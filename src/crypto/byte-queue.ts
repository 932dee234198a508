/** Bytes received in pieces, taken from the front in pieces of another size without copying more than needed. */
export class ByteQueue {
  private readonly parts: Buffer[] = [];
  private total = 0;

  /** Bytes queued. */
  get length(): number {
    return this.total;
  }

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.total += bytes.length;
  }

  /** The first `n` bytes (n ≤ length), removed from the queue. */
  take(n: number): Buffer {
    if (n > this.total) throw new RangeError(`take(${n}) of ${this.total} queued bytes`);
    this.total -= n;
    const first = this.parts[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const part = this.parts[0]!;
      const used = Math.min(part.length, n - filled);
      part.copy(out, filled, 0, used);
      filled += used;
      if (used === part.length) this.parts.shift();
      else this.parts[0] = part.subarray(used);
    }
    return out;
  }

  /** The first `n` bytes (n ≤ length) as the pieces they arrived in, removed from the queue without copying. */
  takeParts(n: number): Buffer[] {
    if (n > this.total) throw new RangeError(`takeParts(${n}) of ${this.total} queued bytes`);
    this.total -= n;
    const out: Buffer[] = [];
    for (let left = n; left > 0;) {
      const part = this.parts[0]!;
      if (part.length <= left) {
        out.push(part);
        this.parts.shift();
        left -= part.length;
      } else {
        out.push(part.subarray(0, left));
        this.parts[0] = part.subarray(left);
        left = 0;
      }
    }
    return out;
  }

  /** Everything queued, removed from the queue. */
  takeAll(): Buffer {
    return this.take(this.total);
  }
}
