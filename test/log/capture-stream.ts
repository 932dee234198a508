import { Writable } from 'node:stream';

/** A writable that keeps everything written to it, optionally pretending to be a terminal. */
export class CaptureStream extends Writable {
  readonly chunks: string[] = [];
  isTTY: boolean;

  constructor(options: { isTTY?: boolean } = {}) {
    super();
    this.isTTY = options.isTTY ?? false;
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk.toString());
    callback();
  }

  /** Everything written so far as one string. */
  text(): string {
    return this.chunks.join('');
  }
}
