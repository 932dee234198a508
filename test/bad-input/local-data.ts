import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/** Deterministic bytes of a given size (so two calls with the same seed write identical files). */
export function bytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/**
 * Writes an app's data into `root`: `data/app.db` (a SQLite database with `rows`), `uploads/` (the vault
 * file both sides share, plus `extra`), `security/tokens.json`. What a bad-input row must leave untouched.
 */
export function writeAppData(root: string, options: { rows: string[]; extra: Record<string, Buffer>; tokens: string }): void {
  mkdirSync(path.join(root, 'data'), { recursive: true });
  mkdirSync(path.join(root, 'uploads', 'vault', 'u1'), { recursive: true });
  mkdirSync(path.join(root, 'security'), { recursive: true });
  const db = new Database(path.join(root, 'data', 'app.db'));
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO notes (body) VALUES (?)');
  for (const row of options.rows) insert.run(row);
  db.close();
  writeFileSync(path.join(root, 'uploads', 'vault', 'u1', 'a.pdf'), bytes('shared vault file', 40_000));
  for (const [relPath, body] of Object.entries(options.extra)) {
    mkdirSync(path.dirname(path.join(root, 'uploads', relPath)), { recursive: true });
    writeFileSync(path.join(root, 'uploads', relPath), body);
  }
  writeFileSync(path.join(root, 'security', 'tokens.json'), options.tokens);
}

/** Every file below `root` as relative path → sha256, skipping persistd's state dirs (any `.persistd` folder: not app data). */
export function digestTree(root: string): Record<string, string> {
  const digests: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.name === '.persistd' && entry.isDirectory()) continue;
      if (entry.isDirectory()) walk(path.join(dir, entry.name), childRel);
      else
        digests[childRel] = createHash('sha256')
          .update(readFileSync(path.join(dir, entry.name)))
          .digest('hex');
    }
  };
  walk(root, '');
  return digests;
}
