import { createRequire } from 'node:module';
import { isatty } from 'node:tty';
import pino from 'pino';
import type * as PinoPretty from 'pino-pretty';
import { REDACTED } from './redact.js';
import { RedactingStream, type LineFormatter, type LogSink } from './redacting-stream.js';

/** The logger every persistd module takes; pino's, so child loggers and levels work as documented there. */
export type Logger = pino.Logger;

/** Log levels accepted by `--log-level` / `PERSISTD_LOG_LEVEL`. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Every accepted log level, for validating configuration. */
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** How to build the process logger. */
export interface LoggerOptions {
  level: LogLevel;
  /** Human-readable lines instead of JSON; `'auto'` (the default) means "when the destination is a terminal". */
  pretty?: boolean | 'auto';
  /** A file descriptor (written synchronously) or a stream; stderr (fd 2) by default. */
  destination?: NodeJS.WritableStream | number;
}

/**
 * Field paths censored before serialization. Belt and braces only: the stream-level redaction in
 * RedactingStream is what guarantees no secret is written, whatever field it hides in.
 */
const REDACT_PATHS = [
  'secretAccessKey',
  'sessionToken',
  'password',
  '*.secretAccessKey',
  '*.sessionToken',
  '*.password',
  'headers.authorization',
  '*.headers.authorization',
];

/**
 * Creates the persistd logger: JSON lines on stderr (`name: "persistd"`, ISO time), pretty-printed
 * in-process when stderr is a terminal, every line redacted, written synchronously so that an
 * error logged right before exit is never lost.
 */
export function createLogger(options: LoggerOptions): Logger {
  const sink: LogSink = options.destination ?? 2;
  const pretty = options.pretty === 'auto' || options.pretty === undefined ? isTerminal(sink) : options.pretty;
  const stream = new RedactingStream(sink, pretty ? prettyFormatter(isTerminal(sink)) : undefined);
  return pino(
    {
      name: 'persistd',
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    stream,
  );
}

/** A logger that writes nothing: the default for library code and tests that do not look at logs. */
export function silentLogger(): Logger {
  // A no-op destination: pino would otherwise open a SonicBoom on stdout for nothing.
  return pino({ level: 'silent' }, { write: () => undefined });
}

function isTerminal(sink: LogSink): boolean {
  if (typeof sink === 'number') return isatty(sink);
  return (sink as { isTTY?: boolean }).isTTY === true;
}

function prettyFormatter(colorize: boolean): LineFormatter {
  // prettyFactory formats synchronously in this thread; pino's `transport` would use a worker
  // thread whose buffered lines are lost when a CLI exits right after an error. Loaded only for a
  // terminal: JSON lines (a container's stderr) start without it.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return prettyFactory({
    colorize: colorize && process.env['NO_COLOR'] === undefined,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: false,
  });
}
