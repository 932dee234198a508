import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve-config.js';
import { generateIdentity } from '../../src/crypto/age-keys.js';
import { PersistdError } from '../../src/errors.js';
import { redact } from '../../src/log/redact.js';

const dir = mkdtempSync(path.join(tmpdir(), 'persistd-age-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function failure(fn: () => unknown): PersistdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PersistdError);
    return err as PersistdError;
  }
  throw new Error('expected an error');
}
const resolve = (flags: Record<string, string | string[]>, env: NodeJS.ProcessEnv = {}) =>
  resolveConfig({ flags, env, cwd: dir, skipTargetChecks: true });

describe('age settings', () => {
  it('takes recipients from repeated flags or a comma-separated variable, and an identity by path or inline', () => {
    const [a, b] = [generateIdentity(), generateIdentity()];
    expect(resolve({ ageRecipients: [a.recipient, b.recipient] }).age.recipients.map((r) => r.text)).toEqual([a.recipient, b.recipient]);
    expect(resolve({}, { PERSISTD_AGE_RECIPIENTS: `${a.recipient}, ${b.recipient}` }).age.recipients).toHaveLength(2);
    writeFileSync(path.join(dir, 'key.txt'), `# created: now\n# public key: ${a.recipient}\n${a.secret}\n`);
    const byPath = resolve({}, { PERSISTD_AGE_IDENTITY: 'key.txt' }).age;
    expect(byPath.identities.map((i) => i.recipient.text)).toEqual([a.recipient]);
    expect(byPath.identitySource).toBe(path.join(dir, 'key.txt'));
    const inline = resolve({}, { PERSISTD_AGE_IDENTITY: b.secret }).age;
    expect(inline.identities[0]?.recipient.text).toBe(b.recipient);
    expect(inline.identitySource).toBe('inline');
    expect(resolve({}).age).toEqual({ recipients: [], identities: [], identitySource: undefined });
  });

  it('refuses bad keys with exit-2 errors that never repeat a secret, and redacts identities from every output', () => {
    const { secret, recipient } = generateIdentity();
    const damaged = `${secret.slice(0, -1)}${secret.endsWith('Q') ? 'P' : 'Q'}`;
    const errors = [
      failure(() => resolve({ ageRecipients: 'age1notakey' })),
      failure(() => resolve({ ageRecipients: secret })),
      failure(() => resolve({}, { PERSISTD_AGE_IDENTITY: damaged })),
      failure(() => resolve({}, { PERSISTD_AGE_IDENTITY: 'missing-key.txt' })),
      failure(() => resolve({ ageRecipients: Array.from({ length: 5 }, () => generateIdentity().recipient) })),
    ];
    for (const err of errors) {
      expect(err.kind).toBe('usage');
      expect(`${err.message} ${err.hint}`).not.toContain(secret.slice(16));
      expect(`${err.message} ${err.hint}`).not.toContain(damaged.slice(16));
    }
    expect(errors[0]?.message).toContain('--age-recipient');
    expect(errors[3]?.message).toContain('missing-key.txt');
    expect(errors[4]?.message).toContain('at most 4');
    // Any identity, given or not, is redacted from logs and errors.
    resolve({}, { PERSISTD_AGE_IDENTITY: secret });
    expect(redact(`key ${secret} and ${recipient}`)).toBe(`key *** and ${recipient}`);
    expect(redact(`other ${generateIdentity().secret}`)).toBe('other AGE-SECRET-KEY-1***');
  });
});
