import Database from 'better-sqlite3';

/**
 * Creates a WAL-mode database of about `sizeMiB` MiB in `path` for the compaction benchmarks: a table
 * `item (id, v, pad)` of rows with 1000 random bytes each, checkpointed so the WAL is empty.
 */
export function createIncompressibleDatabase(path: string, sizeMiB: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = wal');
  db.exec('CREATE TABLE item (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO item (v, pad) VALUES (0, randomblob(1000))');
  const rows = Math.round((sizeMiB * 1024 * 1024) / 1100);
  for (let done = 0; done < rows; done += 10_000) {
    db.transaction(() => {
      for (let i = done; i < Math.min(rows, done + 10_000); i++) insert.run();
    })();
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
