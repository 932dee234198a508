import { redact } from './redact.js';

/** How deep causes and nested fields are followed; deeper values are dropped, cycles end there too. */
const MAX_DEPTH = 6;

/**
 * A copy of `err` safe to print: same prototype (so `instanceof PersistdError` and `kind` still work),
 * with message, stack, hint, path, cause chain and plain nested fields passed through `redact()`.
 * Objects of other classes (an SDK `$response`, a socket) are replaced by their class name, since
 * nobody can vouch for what they hold. A value that is not an Error becomes one.
 */
export function redactError(err: unknown): Error {
  if (err instanceof Error) return redactValue(err, 0) as Error;
  return new Error(redact(typeof err === 'string' ? err : safeString(err)));
}

/** The message of any thrown value with secrets removed, for one-line reports. */
export function redactedMessage(err: unknown): string {
  if (err instanceof Error) return redact(err.message);
  return redact(safeString(err));
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '[unprintable value]';
  }
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  if (value instanceof Error) return redactErrorObject(value, depth);
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const copy: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) copy[key] = redactValue(field, depth + 1);
    return copy;
  }
  return `[${value.constructor?.name ?? 'object'}]`;
}

function redactErrorObject(err: Error, depth: number): Error {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as Error;
  // Own properties include the non-enumerable message, stack and cause that Object.entries would miss.
  for (const key of Reflect.ownKeys(err)) {
    const descriptor = Object.getOwnPropertyDescriptor(err, key);
    if (descriptor === undefined) continue;
    if ('value' in descriptor) {
      descriptor.value = redactValue(descriptor.value, depth + 1);
    } else {
      // An accessor could compute anything from hidden state; freeze its current value, redacted.
      descriptor.value = redactValue(readSafely(err, key), depth + 1);
      delete descriptor.get;
      delete descriptor.set;
      descriptor.writable = true;
    }
    Object.defineProperty(copy, key, descriptor);
  }
  return copy;
}

function readSafely(target: object, key: PropertyKey): unknown {
  try {
    return Reflect.get(target, key);
  } catch {
    return undefined;
  }
}
