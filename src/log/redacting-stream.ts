import pino from 'pino';
import { aroundLiveLine } from './live-line.js';
import { redact } from './redact.js';

/** Turns one serialized JSON log line into what is written (pino-pretty's formatter, for a terminal). */
export type LineFormatter = (jsonLine: string) => string;

/** What RedactingStream writes to: a file descriptor (written synchronously) or any writable stream. */
export type LogSink = NodeJS.WritableStream | number;

interface SyncWriter {
  write(text: string): unknown;
  flushSync(): void;
}

/**
 * The logger's destination: every serialized line passes through `redact()` before it is written,
 * whatever field the secret hides in (msg, err.message, err.stack, nested objects). Writes are
 * synchronous for file descriptors, so a process exiting right after logging an error loses nothing.
 */
export class RedactingStream {
  private readonly fdWriter: SyncWriter | undefined;
  private readonly stream: NodeJS.WritableStream | undefined;

  constructor(
    private readonly sink: LogSink,
    private readonly format?: LineFormatter,
  ) {
    if (typeof sink === 'number') {
      // sync: true makes SonicBoom call fs.writeSync per line: no buffer to lose on process.exit().
      this.fdWriter = pino.destination({ dest: sink, sync: true }) as unknown as SyncWriter;
    } else {
      this.stream = sink;
    }
  }

  /** Called by pino with one complete serialized line (newline included). */
  write(line: string): void {
    let out = redact(line);
    // Redact again after formatting: pretty-printing unescapes JSON strings, which could reassemble a secret.
    if (this.format !== undefined) out = redact(this.format(out));
    // A progress line drawn on the same terminal is cleared and redrawn below this line.
    out = aroundLiveLine(this.sink, out);
    if (this.fdWriter !== undefined) this.fdWriter.write(out);
    else this.stream?.write(out);
  }

  /** Calls back once everything written so far has reached the sink (`logger.flush(cb)` ends up here). */
  flush(cb?: (err?: Error) => void): void {
    if (this.fdWriter !== undefined) {
      try {
        this.fdWriter.flushSync();
      } catch (err) {
        // "not ready" or EAGAIN: with sync writes there is nothing buffered to lose.
        void err;
      }
      cb?.();
      return;
    }
    if (this.stream === undefined || cb === undefined) {
      cb?.();
      return;
    }
    // An empty write's callback runs after every earlier chunk has been handed to the OS.
    this.stream.write('', (err?: Error | null) => cb(err ?? undefined));
  }

  /** Synchronous flush for exit paths that cannot wait for a callback. */
  flushSync(): void {
    this.flush();
  }
}
