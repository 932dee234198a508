import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import { decodeKeyName, encodeKeyName, unsafeNameBytesReason, utf8SequenceLength } from '../format/files-names.js';

/**
 * The text persistd uses for a file's relative path inside the process and in its local index: the
 * path itself when it is valid UTF-8 without a backslash (nearly always), else the same with `\` as
 * `\\` and every byte that is not valid UTF-8 as `\xhh` (like `ls -b`), and the `:` of a path that
 * starts with `<letter>:` as `\x3a` (persistd 0.1 indexed such a name as it was, under another key). Unlike the key text
 * (`format/files-names.ts`), it escapes each name on its own, so joining, splitting and prefixes
 * work on it as on any path. Node needs Buffer paths for such names: `localPathOf` gives one.
 */

const BACKSLASH = 0x5c;
const COLON = 0x3a;
const DRIVE_LETTER = /^[A-Za-z]:/;

function startsWithDriveLetter(bytes: Buffer): boolean {
  const b0 = bytes[0] ?? 0;
  return bytes[1] === COLON && ((b0 >= 0x41 && b0 <= 0x5a) || (b0 >= 0x61 && b0 <= 0x7a));
}

/** The relative-path text of raw path bytes (`/` separators). */
export function relPathOfBytes(bytes: Buffer): string {
  const drive = startsWithDriveLetter(bytes);
  if (!drive && isUtf8(bytes) && !bytes.includes(BACKSLASH)) return bytes.toString('utf8');
  let out = '';
  let run = 0;
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const len = b === BACKSLASH || (drive && i === 1) ? 0 : utf8SequenceLength(bytes, i);
    if (len > 0) {
      i += len;
      continue;
    }
    out += bytes.subarray(run, i).toString('utf8') + (b === BACKSLASH ? '\\\\' : `\\x${b.toString(16).padStart(2, '0')}`);
    i++;
    run = i;
  }
  return out + bytes.subarray(run).toString('utf8');
}

/** The raw bytes a relative-path text stands for; undefined when it is not one `relPathOfBytes` makes (e.g. an index entry of persistd 0.1 with a lone `\`). */
export function relPathBytes(relPath: string): Buffer | undefined {
  if (DRIVE_LETTER.test(relPath)) return undefined; // the text persistd 0.1 indexed: its key was the name as it was
  if (!relPath.includes('\\')) return Buffer.from(relPath, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < relPath.length; i++) {
    if (relPath[i] !== '\\') continue;
    parts.push(Buffer.from(relPath.slice(run, i), 'utf8'));
    if (relPath[i + 1] === '\\') {
      parts.push(Buffer.from([BACKSLASH]));
      i += 1;
    } else if (relPath[i + 1] === 'x' && /^[0-9a-f]{2}$/.test(relPath.slice(i + 2, i + 4))) {
      parts.push(Buffer.from([Number.parseInt(relPath.slice(i + 2, i + 4), 16)]));
      i += 3;
    } else return undefined;
    run = i + 1;
  }
  parts.push(Buffer.from(relPath.slice(run), 'utf8'));
  const bytes = Buffer.concat(parts);
  return relPathOfBytes(bytes) === relPath ? bytes : undefined;
}

/** The relative path of a folder entry: `parent` (a relative-path text, `''` for the root) joined with the entry's raw name. */
export function joinRelPath(parent: string, entryName: Buffer): string {
  const name = relPathOfBytes(entryName);
  return parent === '' ? name : `${parent}/${name}`;
}

/** The path to hand to fs calls: a string for ordinary names, a Buffer for the others; undefined when `relPath` is not a valid text. */
export function localPathOf(root: string, relPath: string): string | Buffer | undefined {
  if (relPath === '') return root;
  if (!relPath.includes('\\') && !DRIVE_LETTER.test(relPath)) return join(root, relPath);
  const bytes = relPathBytes(relPath);
  return bytes === undefined ? undefined : Buffer.concat([Buffer.from(root.endsWith('/') ? root : `${root}/`, 'utf8'), bytes]);
}

/** The path of the entry `name` (an ASCII name of persistd's own) beside the file at `path`. */
export function siblingPath(path: string | Buffer, name: string): string | Buffer {
  if (typeof path === 'string') return join(path, '..', name);
  const slash = path.lastIndexOf('/');
  return Buffer.concat([path.subarray(0, slash + 1), Buffer.from(name, 'utf8')]);
}

/** The text of a relative path inside its object key (format 2 escapes, docs/FORMAT.md "File names"); undefined when `relPath` is not a valid text. */
export function keyTextOf(relPath: string): string | undefined {
  if (!relPath.includes('\\') && !DRIVE_LETTER.test(relPath)) return relPath;
  const bytes = relPathBytes(relPath);
  return bytes === undefined ? undefined : encodeKeyName(bytes);
}

/** The relative path a key text stands for, or why it must not be restored (not persistd's spelling, or unsafe below a root). */
export function relPathOfKeyText(text: string): { relPath: string } | { why: string } {
  const decoded = decodeKeyName(text);
  if ('why' in decoded) return decoded;
  const why = unsafeNameBytesReason(decoded.bytes);
  return why === undefined ? { relPath: relPathOfBytes(decoded.bytes) } : { why };
}
