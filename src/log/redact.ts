/**
 * Redaction of secrets from any text persistd writes: log lines, error messages, printed config.
 * Two layers: exact values registered at runtime (config registers every secret it resolves) and
 * patterns that catch credentials persistd never saw (keys in an SDK error, a presigned URL).
 */

/** What a redacted secret is replaced with. */
export const REDACTED = '***';

/** Values shorter than this are not registered: replacing every occurrence of "abc" would mangle all output. */
const MIN_SECRET_LENGTH = 4;

const secrets = new Set<string>();
let secretsPattern: RegExp | undefined;

/**
 * Token characters of a credential value: stops at quotes, backslashes (JSON escapes), whitespace,
 * and URL/field separators, so `X-Amz-Signature=abc&next` keeps `&next` and a JSON string keeps its quote.
 */
const VALUE = String.raw`[^\s"'\\&,;<>)}\]]+`;

/** Patterns for credentials that may appear without ever being registered, applied in order. */
const PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  // Presigned URL query parameters and the equivalent request headers.
  [new RegExp(String.raw`(X-Amz-(?:Signature|Credential|Security-Token)(?:=|\s*:\s*))${VALUE}`, 'gi'), `$1${REDACTED}`],
  // SigV4 Authorization header: everything after the scheme up to the end of the value.
  [/(AWS4-HMAC-SHA256)\s+[^"'\\\r\n]+/g, `$1 ${REDACTED}`],
  [new RegExp(String.raw`(Authorization["']?\s*[:=]\s*["']?(?:Bearer|Basic|AWS)\s+)${VALUE}`, 'gi'), `$1${REDACTED}`],
  // Credential assignments as in ~/.aws/credentials, env dumps, and JSON fields (`"secretAccessKey":"..."`).
  [
    new RegExp(String.raw`((?:aws_)?(?:secret_?access_?key|session_?token|secret_?key)["']?\s*[:=]\s*["']?)${VALUE}`, 'gi'),
    `$1${REDACTED}`,
  ],
  // age identities (AGE-SECRET-KEY-1 and 58 bech32 characters), whether persistd was given them or not.
  [/AGE-SECRET-KEY-1[0-9A-Za-z]+/g, `AGE-SECRET-KEY-1${REDACTED}`],
  // AWS access key ids (long-term AKIA, temporary ASIA). Case-sensitive: real ids are upper-case.
  [/(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g, REDACTED],
  // Userinfo in URLs: https://user:pass@host -> https://***@host.
  // Anchored on the literal "://" rather than the scheme: a scheme-first pattern is ~10x slower per line.
  [/:\/\/[^/\s"'\\@]+@/g, `://${REDACTED}@`],
];

/**
 * Registers a secret so every later `redact()` (and so every log line) replaces it with `***`.
 * Also registers the forms it takes inside JSON strings and URLs.
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  const forms = [value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)];
  let changed = false;
  for (const form of forms) {
    if (!secrets.has(form)) {
      secrets.add(form);
      changed = true;
    }
  }
  if (changed) secretsPattern = undefined;
}

/** Forgets every registered secret; for tests that must not see each other's secrets. */
export function clearRegisteredSecrets(): void {
  secrets.clear();
  secretsPattern = undefined;
}

/** One alternation of all registered secrets, longest first so a secret containing another is replaced whole. */
function registeredPattern(): RegExp | undefined {
  if (secrets.size === 0) return undefined;
  if (secretsPattern === undefined) {
    const alternatives = [...secrets].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    secretsPattern = new RegExp(alternatives.join('|'), 'g');
  }
  return secretsPattern;
}

/** Replaces registered secrets and anything that looks like a credential in `text` with `***`. */
export function redact(text: string): string {
  let out = text;
  const registered = registeredPattern();
  if (registered !== undefined) out = out.replace(registered, REDACTED);
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/**
 * Shows enough of a secret to tell which one is configured, never enough to use it:
 * `AKIA…WXYZ` for access key ids, `…WXYZ` for other long values, `***` for short ones.
 */
export function maskSecret(value: string | undefined | null): string {
  if (value === undefined || value === null || value === '') return '(not set)';
  if (value.length < 16) return REDACTED;
  const tail = value.slice(-4);
  if (/^(?:AKIA|ASIA)[A-Z0-9]{16}$/.test(value)) return `${value.slice(0, 4)}…${tail}`;
  return `${REDACTED}…${tail}`;
}
