import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PersistdError } from '../../src/errors.js';
import { EXIT_CODES, exitCodeFor } from '../../src/exit-codes.js';

/** The codes in the first column of the README's "Exit codes" table. */
function readmeExitCodes(): number[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.split(/^## Exit codes$/m)[1]?.split(/^## /m)[0] ?? '';
  return section
    .split('\n')
    .filter((line) => /^\| [0-9]/.test(line))
    .flatMap((line) => (line.split('|')[1] ?? '').split(',').map((code) => Number(code.trim())));
}

describe('exit codes', () => {
  it("the README's table lists exactly the codes of src/exit-codes.ts", () => {
    const documented = readmeExitCodes();
    expect(documented.length).toBeGreaterThan(0);
    expect([...new Set(documented)].sort((a, b) => a - b)).toEqual([...new Set(Object.values(EXIT_CODES))].sort((a, b) => a - b));
  });

  it('maps every error kind through the one table', () => {
    expect(exitCodeFor(new PersistdError('x', { kind: 'usage' }))).toBe(EXIT_CODES.usage);
    expect(exitCodeFor(new PersistdError('x', { kind: 'partial' }))).toBe(EXIT_CODES.partial);
    expect(exitCodeFor(new PersistdError('x', { kind: 'storage' }))).toBe(EXIT_CODES.storage);
    expect(exitCodeFor(new PersistdError('x', { kind: 'no-backup' }))).toBe(EXIT_CODES.noBackup);
    expect(exitCodeFor(new PersistdError('x', { kind: 'interrupted' }))).toBe(EXIT_CODES.interrupted);
    expect(exitCodeFor(new PersistdError('x', { kind: 'integrity' }))).toBe(EXIT_CODES.unexpected);
    expect(exitCodeFor(new Error('a bug'))).toBe(EXIT_CODES.unexpected);
    expect(exitCodeFor(new PersistdError('x', { kind: 'usage', exitCode: EXIT_CODES.appNotFound }))).toBe(127);
  });
});
