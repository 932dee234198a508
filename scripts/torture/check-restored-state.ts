import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expectedFile, expectedPad, fileName, type LaunchJournal } from './app-journal.js';

/** What a restored container holds, checked against the app's journals. */
export interface RestoredState {
  /** Rows 1..k restored (meta.n); 0 when there is no database. */
  k: number;
  files: number;
  /** Empty when consistent. */
  problems: string[];
}

const TEMP_NAME = /^\.(f\d\d\.bin)\.tmp-r(\d+)-(\d+)$/;
const FILE_HEAD = /^round (\d+) file (\d+)\n/;

/**
 * Checks a restored database and upload directory: integrity_check, rows 1..k in both tables with
 * no gap and each row a transaction some launch journaled as committed (or was committing when it
 * was killed), no torn transaction; every file byte-identical to a version the app closed (a temp
 * file may hold a prefix of what was being written), and nothing else.
 */
export function checkRestoredState(dbPath: string, uploadsDir: string, launches: ReadonlyMap<number, LaunchJournal>): RestoredState {
  const problems: string[] = [];
  const problem = (text: string): void => {
    if (problems.length < 12) problems.push(text);
  };
  const k = existsSync(dbPath) ? checkDatabase(dbPath, launches, problem) : 0;
  const files = existsSync(uploadsDir) ? checkUploads(uploadsDir, launches, problem) : 0;
  return { k, files, problems };
}

function checkDatabase(dbPath: string, launches: ReadonlyMap<number, LaunchJournal>, problem: (text: string) => void): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    const integrity = (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
    if (integrity !== 'ok') problem(`integrity_check: ${integrity.slice(0, 300)}`);
    const n = (db.prepare("SELECT n FROM meta WHERE k = 'n'").pluck().get() as number | undefined) ?? 0;
    const lengths = new Map<number, number>();
    for (const row of db.prepare('SELECT id, len FROM u ORDER BY id').iterate() as Iterable<{ id: number; len: number }>)
      lengths.set(row.id, row.len);
    const committed = new Map<number, Set<number>>();
    for (const [launch, journal] of launches) committed.set(launch, new Set(journal.commits.map((c) => c.i)));
    let expected = 1;
    let lastLaunch = 0;
    for (const row of db.prepare('SELECT id, round, pad FROM t ORDER BY id').iterate() as Iterable<{
      id: number;
      round: number;
      pad: Buffer;
    }>) {
      if (row.id !== expected) problem(`rows ${expected}..${row.id - 1} are missing (gap before row ${row.id})`);
      expected = row.id + 1;
      const journal = launches.get(row.round);
      const inFlight = journal ? (journal.commits.at(-1)?.i ?? journal.start?.n ?? -1) + 1 : -1;
      if (!journal || (!committed.get(row.round)!.has(row.id) && row.id !== inFlight))
        problem(`row ${row.id} was written by launch ${row.round}, which never committed it`);
      else if (journal.start !== undefined && row.id <= journal.start.n)
        problem(`row ${row.id} is from launch ${row.round}, which started after row ${journal.start.n}`);
      if (row.round < lastLaunch) problem(`row ${row.id} is from launch ${row.round}, older than a row before it (launch ${lastLaunch})`);
      lastLaunch = row.round;
      if (!row.pad.equals(expectedPad(row.id, row.round, row.pad.length)))
        problem(`row ${row.id}: pad is not the one launch ${row.round} wrote`);
      if (lengths.get(row.id) !== row.pad.length)
        problem(`row ${row.id}: table u says ${lengths.get(row.id) ?? 'nothing'}, t has ${row.pad.length} bytes (torn transaction)`);
      lengths.delete(row.id);
    }
    if (expected - 1 !== n) problem(`meta.n is ${n} but the rows end at ${expected - 1} (torn transaction)`);
    if (lengths.size > 0) problem(`table u has rows that t lacks: ${[...lengths.keys()].slice(0, 5).join(', ')} (torn transaction)`);
    return n;
  } finally {
    db.close();
  }
}

function checkUploads(dir: string, launches: ReadonlyMap<number, LaunchJournal>, problem: (text: string) => void): number {
  let count = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (!entry.isFile()) {
      problem(`unexpected ${entry.isDirectory() ? 'directory' : 'entry'} in the uploads: ${entry.name}`);
      continue;
    }
    count++;
    const bytes = readFileSync(path);
    const temp = TEMP_NAME.exec(entry.name);
    if (temp) {
      const [launch, j] = [Number(temp[2]), Number(temp[3])];
      const full = expectedFile(launch, j);
      if (temp[1] !== fileName(j) || !launches.has(launch) || bytes.length > full.length || !full.subarray(0, bytes.length).equals(bytes)) {
        problem(`temp file ${entry.name} (${bytes.length} bytes) is not a prefix of what the app wrote to it`);
      }
      continue;
    }
    const head = FILE_HEAD.exec(bytes.subarray(0, 64).toString('latin1'));
    if (!head) {
      problem(`${entry.name} (${statSync(path).size} bytes) is not a version the app wrote`);
      continue;
    }
    const [launch, j] = [Number(head[1]), Number(head[2])];
    const journal = launches.get(launch);
    if (fileName(j) !== entry.name || !expectedFile(launch, j).equals(bytes)) {
      problem(`${entry.name} holds ${bytes.length} bytes claiming launch ${launch} file ${j}, not byte-identical to that version`);
      continue;
    }
    const closed = journal?.files.some((f) => f.j === j) ?? false;
    const inFlight = journal !== undefined && j === (journal.files.at(-1)?.j ?? 0) + 1;
    if (!closed && !inFlight) problem(`${entry.name}: launch ${launch} file ${j} was never closed by the app`);
  }
  return count;
}
