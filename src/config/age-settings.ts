import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AgeKeyError, parseIdentity, parseIdentityFile, parseRecipient, type AgeIdentity, type AgeRecipient } from '../crypto/age-keys.js';
import { MAX_RECIPIENTS } from '../crypto/object-envelope.js';
import { usageError } from '../errors.js';
import { registerSecret } from '../log/redact.js';

/** The replica's age keys, parsed and checked (docs/FORMAT.md "Encryption (format 2)"). */
export interface AgeSettings {
  /** What new objects are encrypted to. */
  readonly recipients: readonly AgeRecipient[];
  /** What objects are decrypted with. */
  readonly identities: readonly AgeIdentity[];
  /** Where the identities came from, safe to print: the file's path, or "inline". */
  readonly identitySource: string | undefined;
}

/**
 * Parses `--age-recipient` values and the `--age-identity` value (a path to an identity file, or an
 * `AGE-SECRET-KEY-1...` string). Every secret line is registered with the redactor; no error repeats one.
 */
export function resolveAgeSettings(
  recipients: readonly string[],
  identity: { value: string; baseDir: string } | undefined,
  label: (key: string, value: string) => string,
): AgeSettings {
  const parsedRecipients = recipients.map((text) => {
    try {
      return parseRecipient(text);
    } catch (err) {
      throw usageError(
        `${label('ageRecipients', printable(text))}: ${(err as Error).message}`,
        'give the age1... line that age-keygen prints as "Public key" (or age-keygen -y key.txt)',
      );
    }
  });
  const unique = [...new Map(parsedRecipients.map((r) => [r.text, r])).values()];
  if (unique.length > MAX_RECIPIENTS)
    throw usageError(
      `${unique.length} age recipients given; persistd encrypts to at most ${MAX_RECIPIENTS}`,
      'give fewer --age-recipient values',
    );
  if (identity === undefined) return { recipients: unique, identities: [], identitySource: undefined };
  const value = identity.value.trim();
  if (value.toUpperCase().startsWith('AGE-SECRET-KEY-')) {
    registerSecret(value);
    try {
      return { recipients: unique, identities: [parseIdentity(value)], identitySource: 'inline' };
    } catch {
      throw usageError(
        `${label('ageIdentity', 'AGE-SECRET-KEY-…')} is not a valid age identity`,
        'give the whole AGE-SECRET-KEY-1... line of the identity file, or the path of that file',
      );
    }
  }
  const file = path.resolve(identity.baseDir, value);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(
      `cannot read the age identity file ${label('ageIdentity', value)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      'give the path of the file age-keygen -o wrote (readable by this user), or the AGE-SECRET-KEY-1... string itself',
    );
  }
  for (const line of text.split(/\r?\n/)) if (line.trim().toUpperCase().startsWith('AGE-SECRET-KEY-')) registerSecret(line.trim());
  try {
    return { recipients: unique, identities: parseIdentityFile(text), identitySource: file };
  } catch (err) {
    const why = err instanceof AgeKeyError ? err.message : 'unreadable';
    throw usageError(
      `the age identity file ${file} is not usable: ${why}`,
      'give a file written by age-keygen (X25519 identities; passphrase-protected or plugin identities are not supported)',
    );
  }
}

// A value shown in an error: a secret key given by mistake is never repeated.
function printable(text: string): string {
  return text.trim().toUpperCase().startsWith('AGE-SECRET-KEY-') ? 'AGE-SECRET-KEY-…' : text;
}
