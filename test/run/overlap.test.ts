import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';
import { logLines, startPersistd, type PersistdProcess } from './persistd-process.js';

const TICKER = fileURLToPath(new URL('./fixtures/ticker-app.mjs', import.meta.url));

function rows(dbPath: string): { A: number; B: number; integrity: string } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const count = (label: string): number => (db.prepare('SELECT count(*) AS n FROM ticks WHERE label = ?').get(label) as { n: number }).n;
    return { A: count('A'), B: count('B'), integrity: String(db.pragma('integrity_check', { simple: true })) };
  } finally {
    db.close();
  }
}

describe('two overlapping instances (a zero-downtime deploy)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'persistd-overlap-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const replica = path.join(dir, 'replica');
  mkdirSync(path.join(dir, 'A'));
  mkdirSync(path.join(dir, 'B'));
  const start = (label: 'A' | 'B'): PersistdProcess =>
    startPersistd(
      [
        'run',
        '--to',
        `file://${replica}`,
        '--db',
        `app.db=${path.join(dir, label, 'app.db')}`,
        '--state-dir',
        path.join(dir, `state-${label}`),
        '--sync-interval',
        '100ms',
        '--snapshot-interval',
        '1h',
        '--',
        process.execPath,
        TICKER,
        path.join(dir, label, 'app.db'),
        label,
      ],
      { PERSISTD_LOG_LEVEL: 'info' },
    );

  const walSegments = (): number =>
    readdirSync(replica, { recursive: true }).filter((f) => String(f).endsWith('.wal.gz') && !String(f).startsWith('.persistd-meta'))
      .length;

  it('the new instance takes the lineage; the old one is fenced, says what it holds, never moves the pointer back, and its rows stay restorable by generation', async () => {
    const a = start('A');
    await a.until(() => a.stderr().includes('took the lineage pointer') && a.stdout().includes('ticker ready 0'), 'instance A replicating');
    const generationOf = (p: PersistdProcess): string =>
      String(logLines(p.stderr()).find((l) => l.msg === 'took the lineage pointer')?.generation);
    const genA = generationOf(a);
    // Let A ship a few syncs of rows, then deploy B on a fresh disk: it restores A's lineage.
    await a.until(() => existsSync(path.join(dir, 'state-A', 'status.json')) && walSegments() >= 3, 'A shipping WAL segments');
    const b = start('B');
    await b.until(() => b.stderr().includes('took the lineage pointer') && /ticker ready \d+/.test(b.stdout()), 'instance B replicating');
    const restoredByB = Number(/ticker ready (\d+)/.exec(b.stdout())![1]);
    expect(restoredByB).toBeGreaterThan(0);
    const genB = generationOf(b);
    expect(genB).not.toBe(genA);

    // A keeps writing: its next shipped sync finds the pointer taken.
    await a.until(() => a.stderr().includes('fenced'), 'A fenced');
    const fenced = logLines(a.stderr()).find((l) => typeof l.msg === 'string' && l.msg.startsWith('fenced'))!;
    expect(fenced.level).toBe(50);
    expect(fenced.msg).toMatch(
      /(\d+) transaction\(s\) this instance stored after the point the other restored from are NOT in the live lineage/,
    );
    expect(Number(/(\d+) transaction\(s\)/.exec(String(fenced.msg))![1])).toBeGreaterThan(0);
    expect(fenced.msg).toContain(`persistd restore --generation ${genA}`);

    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const pointer = JSON.parse(readFileSync(path.join(replica, 'db', 'app.db', 'current.json'), 'utf8')) as Record<string, unknown>;
    expect(pointer).toMatchObject({
      generation: genB,
      restoredFrom: { generation: genA, wal: { epoch: expect.any(Number) as number, frame: expect.any(Number) as number } },
    });
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    const localA = rows(path.join(dir, 'A', 'app.db'));
    const localB = rows(path.join(dir, 'B', 'app.db'));

    // The latest restore follows the pointer: B's lineage, whole.
    const latest = await runPersistd(['restore', '--to', `file://${replica}`, '--db', 'app.db=' + path.join(dir, 'latest.db')]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(rows(path.join(dir, 'latest.db'))).toEqual(localB);
    // A's own generation holds everything A wrote, its late rows included.
    const old = await runPersistd([
      'restore',
      '--to',
      `file://${replica}`,
      '--db',
      'app.db=' + path.join(dir, 'old.db'),
      '--generation',
      genA,
    ]);
    expect(old.code, old.stderr).toBe(0);
    expect(rows(path.join(dir, 'old.db'))).toEqual(localA);
    expect(localA.A).toBeGreaterThan(localB.A);
  }, 60_000);
});
