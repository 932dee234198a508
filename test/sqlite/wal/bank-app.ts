import Database from 'better-sqlite3';

/** The state a bank database holds: a consistent one has `sum` = accounts × start balance and `seq` = transfers applied. */
export interface BankState {
  seq: number;
  sum: number;
  integrity: string;
  /** Balances by account id, to compare with the state the app committed at `seq`. */
  balances: number[];
}

/**
 * An in-process app that keeps an invariant: accounts with large rows (so each transfer dirties
 * pages all over the file), each transaction moves one unit between two accounts chosen from a
 * seeded sequence and bumps `meta.seq`. Every committed state is reproducible from its `seq`, so a
 * restore can be checked against the exact state the app committed, not only against its shape.
 */
export function openBankApp(path: string, options: { pageSize?: number; accounts?: number; rowBytes?: number; seed?: number } = {}) {
  const accounts = options.accounts ?? 300;
  const db = new Database(path);
  db.pragma(`page_size = ${options.pageSize ?? 4096}`);
  db.pragma('journal_mode = wal');
  db.pragma('wal_autocheckpoint = 1000');
  db.exec(
    'CREATE TABLE IF NOT EXISTS acct (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL, pad BLOB); CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, seq INTEGER)',
  );
  if ((db.prepare('SELECT count(*) FROM acct').pluck().get() as number) === 0) {
    const insert = db.prepare('INSERT INTO acct VALUES (?, 1000, randomblob(?))');
    db.transaction(() => {
      for (let id = 1; id <= accounts; id++) insert.run(id, options.rowBytes ?? 3000);
      db.exec("INSERT INTO meta VALUES ('seq', 0)");
    })();
  }
  const move = db.prepare('UPDATE acct SET bal = bal + ?, pad = randomblob(length(pad)) WHERE id = ?');
  const bump = db.prepare("UPDATE meta SET seq = ? WHERE k = 'seq'");
  const pairs = transferSequence(accounts, options.seed ?? 1);
  let seq = db.prepare("SELECT seq FROM meta WHERE k = 'seq'").pluck().get() as number;
  const transfer = db.transaction(() => {
    const [from, to] = pairs(seq);
    move.run(-1, from);
    move.run(1, to);
    seq++;
    bump.run(seq);
  });
  return {
    db,
    accounts,
    /** Commits `count` transfers, one transaction each; returns the last sequence number. */
    transfer(count = 1): number {
      for (let i = 0; i < count; i++) transfer();
      return seq;
    },
    /** The balances after exactly `upTo` transfers, recomputed from the seeded sequence. */
    expectedBalances(upTo: number): number[] {
      const balances = new Array<number>(accounts).fill(1000);
      for (let n = 0; n < upTo; n++) {
        const [from, to] = pairs(n);
        balances[from - 1]!--;
        balances[to - 1]!++;
      }
      return balances;
    },
    close: () => db.close(),
  };
}

/** Reads the state of a bank database (a restored copy). */
export function readBankState(path: string): BankState {
  const db = new Database(path, { readonly: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const seq = db.prepare("SELECT seq FROM meta WHERE k = 'seq'").pluck().get() as number;
    const balances = db.prepare('SELECT bal FROM acct ORDER BY id').pluck().all() as number[];
    return { seq, sum: balances.reduce((a, b) => a + b, 0), integrity, balances };
  } finally {
    db.close();
  }
}

/** Transfer n's (from, to) accounts, 1-based and distinct, from a small seeded generator (mulberry32 of seed and n). */
function transferSequence(accounts: number, seed: number): (n: number) => [number, number] {
  return (n) => {
    let t = (seed * 0x9e3779b1 + n * 0x85ebca6b) >>> 0;
    const next = (): number => {
      t = (t + 0x6d2b79f5) >>> 0;
      let r = Math.imul(t ^ (t >>> 15), 1 | t);
      r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
      return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
    };
    const from = 1 + Math.floor(next() * accounts);
    const to = 1 + ((from - 1 + 1 + Math.floor(next() * (accounts - 1))) % accounts);
    return [from, to];
  };
}
