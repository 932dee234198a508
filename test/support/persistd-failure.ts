import { expect } from 'vitest';
import { PersistdError } from '../../src/errors.js';

/** The PersistdError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function failureOf(promise: Promise<unknown>): Promise<PersistdError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PersistdError);
  return err as PersistdError;
}
