import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';

/** What a restored bank database holds, and what is wrong with it (empty: it is a state the app committed). */
export interface BankCheck {
  seq: number;
  problems: string[];
}

/** The transfers the bank writer journaled, in order: transfer n is `transfers[n - 1]` (from, to). */
export function readBankJournal(journalPath: string): [number, number][] {
  const transfers: [number, number][] = [];
  for (const line of readFileSync(journalPath, 'utf8').split('\n')) {
    const [n, from, to] = line.split(' ').map(Number);
    if (n === undefined || from === undefined || to === undefined || !Number.isInteger(n) || n !== transfers.length + 1) continue;
    transfers.push([from, to]);
  }
  return transfers;
}

/**
 * Checks a restored bank database against the journal: `integrity_check`, the sum of the balances
 * (transfers conserve it), and every balance equal to the state after exactly `meta.seq` transfers,
 * so that a restore that mixes two states, or holds a state the app never committed, is caught.
 */
export function checkBankDb(path: string, transfers: readonly [number, number][], accounts: number): BankCheck {
  const db = new Database(path, { readonly: true });
  try {
    const problems: string[] = [];
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    if (integrity !== 'ok') problems.push(`integrity_check: ${integrity}`);
    const seq = db.prepare("SELECT seq FROM meta WHERE k = 'seq'").pluck().get() as number;
    const rows = db.prepare('SELECT id, bal FROM acct ORDER BY id').all() as { id: number; bal: number }[];
    if (rows.length !== accounts) problems.push(`${rows.length} accounts, expected ${accounts}`);
    const sum = rows.reduce((total, row) => total + row.bal, 0);
    if (sum !== accounts * 1000) problems.push(`the balances sum to ${sum}, not ${accounts * 1000}: a state the app never committed`);
    if (seq > transfers.length) problems.push(`seq ${seq} was never journaled (journal ends at ${transfers.length})`);
    else {
      const expected = new Array<number>(accounts + 1).fill(1000);
      for (let n = 0; n < seq; n++) {
        const [from, to] = transfers[n]!;
        expected[from]!--;
        expected[to]!++;
      }
      const wrong = rows.filter((row) => row.bal !== expected[row.id]);
      if (wrong.length > 0)
        problems.push(
          `${wrong.length} balance(s) differ from the state after transfer ${seq} (first: account ${wrong[0]!.id} has ${wrong[0]!.bal}, expected ${expected[wrong[0]!.id]})`,
        );
    }
    return { seq, problems };
  } finally {
    db.close();
  }
}
