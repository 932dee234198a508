// The README's first command: protect a SQLite database and an upload directory with a local
// file:// replica, lose the "container" (delete the local data), and get everything back.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

const here = path.resolve('quickstart');
const dataDir = path.join(here, 'data');
const uploads = path.join(here, 'uploads');
const replica = `file://${path.join(here, 'replica')}`;
const bin = path.resolve('bin/persistd.js');
const common = ['--to', replica, '--db', path.join(dataDir, 'app.db'), '--dir', uploads, '--state-dir', path.join(here, '.persistd')];

function persistd(...args: string[]): void {
  console.log(`\n$ persistd ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit', env: { ...process.env, PERSISTD_LOG_LEVEL: 'warn' } });
  if (result.status !== 0) {
    console.error(`quickstart: persistd ${args[0]} exited with ${result.status}`);
    process.exit(result.status ?? 1);
  }
}

function notes(): string[] {
  const db = new Database(path.join(dataDir, 'app.db'), { readonly: true });
  try {
    return (db.prepare('SELECT body FROM notes ORDER BY id').all() as Array<{ body: string }>).map((row) => row.body);
  } finally {
    db.close();
  }
}

rmSync(here, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });
mkdirSync(path.join(uploads, 'vault', 'alice'), { recursive: true });
const db = new Database(path.join(dataDir, 'app.db'));
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
const insert = db.prepare('INSERT INTO notes (body) VALUES (?)');
for (const body of ['buy milk', 'ship persistd', 'call the bank']) insert.run(body);
db.close();
writeFileSync(path.join(uploads, 'vault', 'alice', 'passport scan #1.txt'), 'not really a passport\n');
writeFileSync(path.join(uploads, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>\n');
const before = notes();
console.log(`created ${path.join(dataDir, 'app.db')} with ${before.length} notes and 2 uploaded files`);

persistd('doctor', ...common);
persistd('backup', ...common);
persistd('snapshots', ...common);

console.log("\n# losing the container: deleting the database, the uploads and persistd's local state");
for (const dir of [dataDir, uploads, path.join(here, '.persistd')]) rmSync(dir, { recursive: true, force: true });
mkdirSync(dataDir);

persistd('restore', ...common);
const after = notes();
const restoredFile = readFileSync(path.join(uploads, 'vault', 'alice', 'passport scan #1.txt'), 'utf8');
const same = JSON.stringify(after) === JSON.stringify(before) && restoredFile === 'not really a passport\n';
console.log(`\nnotes after restore: ${JSON.stringify(after)}`);
console.log(`uploads after restore: ${readdirSync(uploads, { recursive: true }).join(', ')}`);
console.log(same ? '\nquickstart: everything came back.' : '\nquickstart: the restored data differs!');
process.exit(same ? 0 : 1);
