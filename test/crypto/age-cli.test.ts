import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AgeDecryptError, ageDecrypt, createAgeDecryptStream } from '../../src/crypto/age-decrypt.js';
import { ageEncrypt, createAgeEncryptStream } from '../../src/crypto/age-encrypt.js';
import { generateIdentity, parseIdentity, parseIdentityFile, parseRecipient, type AgeIdentity } from '../../src/crypto/age-keys.js';

const run = promisify(execFile);
const ageCli = inject('ageCli');
// Sizes around the 64 KiB STREAM chunk boundaries, and an empty file.
const SIZES = [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 1_000_003];

/** `bytes` cut into pieces of random sizes (1 byte to 100 KiB), as a stream delivers them. */
function pieces(bytes: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = 1 + Math.floor(Math.random() * 100_000);
    parts.push(bytes.subarray(i, i + n));
    i += n;
  }
  return Readable.from(parts);
}

describe.skipIf(!ageCli.available)('age format against the real age CLI', () => {
  let dir: string;
  let keyFile: string;
  let identity: AgeIdentity;
  let cliRecipient: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'persistd-age-'));
    keyFile = join(dir, 'key.txt');
    await run('age-keygen', ['-o', keyFile], { timeout: 60_000 });
    [identity] = parseIdentityFile(await readFile(keyFile, 'utf8')) as [AgeIdentity];
    cliRecipient = (await run('age-keygen', ['-y', keyFile], { timeout: 60_000 })).stdout.trim();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads an age-keygen identity file (comments included) to the recipient age-keygen -y prints', async () => {
    const text = await readFile(keyFile, 'utf8');
    expect(text).toMatch(/^# created: /m);
    expect(identity.recipient.text).toBe(cliRecipient);
  });

  it('makes identities whose recipient age-keygen -y agrees with', async () => {
    const made = generateIdentity();
    const file = join(dir, 'made.txt');
    await writeFile(file, `# a comment\n${made.secret}\n`);
    expect((await run('age-keygen', ['-y', file], { timeout: 60_000 })).stdout.trim()).toBe(made.recipient);
    expect(parseIdentity(made.secret).recipient.text).toBe(made.recipient);
  });

  it.each(SIZES)(
    'age -d decrypts what persistd encrypts (%i bytes, streamed and in memory, two recipients, an extra stanza)',
    async (size) => {
      const plaintext = randomBytes(size);
      const other = generateIdentity();
      const options = {
        recipients: [parseRecipient(other.recipient), parseRecipient(cliRecipient)],
        extraStanzas: [{ type: 'persistd-key', args: [], body: Buffer.from('db/app/0001/snapshot.gz') }],
      };
      const streamed = await buffer(pieces(plaintext).pipe(createAgeEncryptStream(options)));
      const inMemory = ageEncrypt(plaintext, options);
      for (const [name, file] of [
        ['streamed', streamed],
        ['memory', inMemory],
      ] as const) {
        const path = join(dir, `${name}-${size}.age`);
        await writeFile(path, file);
        const { stdout } = await run('age', ['-d', '-i', keyFile, path], { timeout: 60_000, encoding: 'buffer', maxBuffer: 16 << 20 });
        expect(stdout.equals(plaintext)).toBe(true);
      }
    },
  );

  it.each(SIZES)('persistd decrypts what age -e encrypts (%i bytes, streamed in random pieces and in memory)', async (size) => {
    const plaintext = randomBytes(size);
    const input = join(dir, `plain-${size}`);
    const output = join(dir, `cli-${size}.age`);
    await writeFile(input, plaintext);
    const other = generateIdentity();
    await run('age', ['-e', '-r', other.recipient, '-r', cliRecipient, '-o', output, input], { timeout: 60_000 });
    const file = await readFile(output);
    const streamed = await buffer(pieces(file).pipe(createAgeDecryptStream({ identities: [identity] })));
    expect(streamed.equals(plaintext)).toBe(true);
    expect(ageDecrypt(file, { identities: [identity] }).plaintext.equals(plaintext)).toBe(true);
  });

  it('refuses a file for other recipients, an altered or truncated one, and plaintext, saying which', async () => {
    const plaintext = randomBytes(200_000);
    const input = join(dir, 'plain-f');
    const output = join(dir, 'cli-f.age');
    await writeFile(input, plaintext);
    await run('age', ['-e', '-r', cliRecipient, '-o', output, input], { timeout: 60_000 });
    const file = await readFile(output);
    const reasonOf = (bytes: Buffer, identities = [identity]): string => {
      try {
        ageDecrypt(bytes, { identities });
      } catch (err) {
        expect(err).toBeInstanceOf(AgeDecryptError);
        return (err as AgeDecryptError).reason;
      }
      return 'decrypted';
    };
    expect(reasonOf(file)).toBe('decrypted');
    expect(reasonOf(file, [parseIdentity(generateIdentity().secret)])).toBe('no-identity');
    const flipped = Buffer.from(file);
    flipped[flipped.length - 100]! ^= 1;
    expect(reasonOf(flipped)).toBe('corrupt');
    // Cut at a chunk boundary: every remaining chunk authenticates, but the last one is not flagged last.
    const headerEnd = file.indexOf('\n---') + 1;
    const headerLength = file.indexOf('\n', headerEnd) + 1 + 16;
    expect(reasonOf(file.subarray(0, headerLength + 65_552))).toBe('corrupt');
    expect(reasonOf(file.subarray(0, file.length - 1))).toBe('corrupt');
    expect(reasonOf(plaintext)).toBe('not-age');
    expect(reasonOf(Buffer.from('SQLite format 3\0'))).toBe('not-age');
  });

  it('refuses a file whose extra stanza was changed after encryption (the header MAC covers it)', async () => {
    const file = ageEncrypt(Buffer.from('hello'), {
      recipients: [identity.recipient],
      extraStanzas: [{ type: 'persistd-key', args: [], body: Buffer.from('files/a.txt') }],
    });
    const text = file.toString('latin1');
    const swapped = Buffer.from(
      text.replace(
        Buffer.from('files/a.txt').toString('base64').replace(/=+$/, ''),
        Buffer.from('files/b.txt').toString('base64').replace(/=+$/, ''),
      ),
      'latin1',
    );
    expect(swapped.equals(file)).toBe(false);
    expect(() => ageDecrypt(swapped, { identities: [identity] })).toThrow(/does not authenticate/);
    const path = join(dir, 'swapped.age');
    await writeFile(path, swapped);
    await expect(run('age', ['-d', '-i', keyFile, path], { timeout: 60_000 })).rejects.toThrow();
  });
});
