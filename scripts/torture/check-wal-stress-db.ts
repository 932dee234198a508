import Database from 'better-sqlite3';

/** What a restored copy of the WAL stress's database holds (see wal-writer.py). */
export interface WalStressDbCheck {
  /** meta.n: the last transaction the copy claims to hold. */
  n: number;
  integrity: string;
  /** Empty when the copy is a consistent prefix 1..n of the writer's transactions. */
  problems: string[];
}

function pad(n: number, length: number): Buffer {
  const unit = String(n).padStart(10, '0');
  return Buffer.from(unit.repeat(Math.ceil(length / unit.length) + 1).slice(0, length));
}

/**
 * Checks a copy of the stress database: integrity_check, rows 1..meta.n in both tables with no gap,
 * every pad the bytes its id implies, and the second table agreeing with the first (no torn transaction).
 */
export function checkWalStressDb(path: string): WalStressDbCheck {
  const db = new Database(path, { readonly: true });
  try {
    const integrity = (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
    const n = (db.prepare("SELECT n FROM meta WHERE k = 'n'").pluck().get() as number | undefined) ?? 0;
    const problems: string[] = [];
    if (integrity !== 'ok') problems.push(`integrity_check: ${integrity.slice(0, 300)}`);
    const lengths = new Map<number, number>();
    for (const row of db.prepare('SELECT id, len FROM u ORDER BY id').iterate() as Iterable<{ id: number; len: number }>)
      lengths.set(row.id, row.len);
    let expected = 1;
    for (const row of db.prepare('SELECT id, pad FROM t ORDER BY id').iterate() as Iterable<{ id: number; pad: Buffer }>) {
      if (row.id !== expected && problems.length < 10)
        problems.push(`t: expected row ${expected}, found ${row.id} (missing ${expected}..${row.id - 1})`);
      expected = row.id + 1;
      if (!Buffer.isBuffer(row.pad) || !row.pad.equals(pad(row.id, row.pad.length)) || row.pad.length === 0) {
        if (problems.length < 10) problems.push(`t: row ${row.id} has a pad that is not its own (${row.pad?.length} bytes)`);
      }
      const len = lengths.get(row.id);
      if (len !== row.pad.length && problems.length < 10)
        problems.push(`u: row ${row.id} says ${len ?? 'nothing'}, t has ${row.pad.length} bytes (torn transaction)`);
      lengths.delete(row.id);
    }
    if (expected - 1 !== n) problems.push(`meta.n is ${n} but t ends at ${expected - 1}`);
    if (lengths.size > 0) problems.push(`u has ${lengths.size} row(s) that t lacks, e.g. ${[...lengths.keys()].slice(0, 5).join(', ')}`);
    return { n, integrity, problems };
  } finally {
    db.close();
  }
}
