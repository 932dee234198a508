// A tiny notes service for the persistd demo: notes in SQLite, attachments in an upload directory.
//   GET  /notes            → JSON list of notes
//   POST /notes            → body is the note text; returns the new note
//   PUT  /uploads/<name>   → stores the body as uploads/<name>
//   GET  /uploads/<name>   → returns it
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';

const dataDir = process.env.NOTES_DATA_DIR ?? './data';
const uploadDir = process.env.NOTES_UPLOAD_DIR ?? './uploads';
const port = Number(process.env.PORT ?? 8080);
mkdirSync(dataDir, { recursive: true });
mkdirSync(uploadDir, { recursive: true });

const db = new Database(path.join(dataDir, 'notes.db'));
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL)');
const count = db.prepare('SELECT count(*) AS n FROM notes').get().n;
// Seed a welcome note only into a fresh database: after a restore the seed must not run again.
if (count === 0)
  db.prepare('INSERT INTO notes (body, created_at) VALUES (?, ?)').run('welcome to the notes demo', new Date().toISOString());

const body = (req) =>
  new Promise((resolve) => {
    const parts = [];
    req.on('data', (part) => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts)));
  });

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/notes' && req.method === 'GET') {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(db.prepare('SELECT id, body FROM notes ORDER BY id').all()));
  }
  if (url.pathname === '/notes' && req.method === 'POST') {
    const text = (await body(req)).toString('utf8');
    const info = db.prepare('INSERT INTO notes (body, created_at) VALUES (?, ?)').run(text, new Date().toISOString());
    res.statusCode = 201;
    return res.end(JSON.stringify({ id: Number(info.lastInsertRowid), body: text }));
  }
  const upload = /^\/uploads\/([\w.-]+)$/.exec(url.pathname);
  if (upload && req.method === 'PUT') {
    writeFileSync(path.join(uploadDir, upload[1]), await body(req));
    res.statusCode = 201;
    return res.end('stored\n');
  }
  if (upload && req.method === 'GET' && existsSync(path.join(uploadDir, upload[1]))) {
    return res.end(readFileSync(path.join(uploadDir, upload[1])));
  }
  res.statusCode = 404;
  res.end('not found\n');
});

process.on('SIGTERM', () => {
  console.log('notes: SIGTERM, closing');
  server.close();
  db.close();
  process.exit(0);
});
server.listen(port, '127.0.0.1', () => console.log(`notes: listening on http://127.0.0.1:${port} with ${count} notes`));
