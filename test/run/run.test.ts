import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { runPersistd } from '../support/run-persistd.js';
import { startPersistd } from './persistd-process.js';

const APP = fileURLToPath(new URL('./fixtures/notes-app.mjs', import.meta.url));

interface Sandbox {
  dir: string;
  db: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

function sandbox(): Sandbox {
  const dir = mkdtempSync(path.join(tmpdir(), 'persistd-run-'));
  mkdirSync(path.join(dir, 'data'));
  const db = path.join(dir, 'data', 'app.db');
  return {
    dir,
    db,
    args: ['--to', `file://${path.join(dir, 'replica')}`, '--db', db, '--state-dir', path.join(dir, 'state')],
    env: { PERSISTD_LOG_LEVEL: 'info' },
  };
}

function notes(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT body FROM notes ORDER BY id').all() as Array<{ body: string }>).map((row) => row.body);
  } finally {
    db.close();
  }
}

/** Loses the "container": the local database and persistd's state vanish. */
function loseContainer(box: Sandbox): void {
  rmSync(path.join(box.dir, 'data'), { recursive: true, force: true });
  rmSync(path.join(box.dir, 'state'), { recursive: true, force: true });
  mkdirSync(path.join(box.dir, 'data'));
}

/** Starts persistd run as a real process; resolves helpers to wait for output and for exit. */
function startRun(box: Sandbox, appArgs: string[], extra: string[] = []) {
  const run = startPersistd(['run', ...box.args, ...extra, '--', process.execPath, APP, box.db, ...appArgs], box.env);
  const waitFor = (text: string, timeoutMs = 20_000): Promise<void> => run.until(() => run.stdout().includes(text), `"${text}"`, timeoutMs);
  return { child: run.child, exited: run.exited, waitFor, output: () => ({ stdout: run.stdout(), stderr: run.stderr() }) };
}

describe('persistd run', () => {
  it('restores before the app starts, and the final backup holds the write made in the SIGTERM handler', async () => {
    const box = sandbox();
    const first = startRun(box, ['serve', 'alpha', 'beta']);
    await first.waitFor('app ready');
    expect(first.output().stdout).toContain('app start: 0 notes');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.output().stdout).toContain('app: stopped cleanly');
    expect(first.output().stderr).toContain('final backup complete');

    loseContainer(box);
    const second = startRun(box, ['serve']);
    await second.waitFor('app ready');
    // The app's very first line already sees the restored rows: restore ran before it started.
    expect(second.output().stdout.split('\n')[0]).toBe('app start: 3 notes');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    loseContainer(box);
    const restored = await runPersistd(['restore', ...box.args]);
    expect(restored.code).toBe(0);
    expect(notes(box.db)).toEqual(['alpha', 'beta', 'written in the SIGTERM handler', 'written in the SIGTERM handler']);
  });

  it('forwards other signals to the app', async () => {
    const box = sandbox();
    const run = startRun(box, ['serve']);
    await run.waitFor('app ready');
    run.child.kill('SIGUSR1');
    await run.waitFor('app: got SIGUSR1');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('passes the exit code of an app that exits by itself through, after the final backup', async () => {
    const box = sandbox();
    box.env.APP_EXIT_CODE = '3';
    const run = startRun(box, ['exit', 'only-note']);
    expect(await run.exited).toBe(3);
    loseContainer(box);
    expect((await runPersistd(['restore', ...box.args])).code).toBe(0);
    expect(notes(box.db)).toEqual(['only-note']);
  });

  it('kills an app that ignores SIGTERM after --app-stop-timeout, exits 128+9, and still backs up', async () => {
    const box = sandbox();
    const run = startRun(box, ['ignore-term', 'kept'], ['--app-stop-timeout', '300ms']);
    await run.waitFor('app ready');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(137);
    expect(run.output().stdout).toContain('app: ignoring SIGTERM');
    loseContainer(box);
    expect((await runPersistd(['restore', ...box.args])).code).toBe(0);
    expect(notes(box.db)).toEqual(['kept']);
  });

  it('does not start the app when a backup exists but cannot be restored', async () => {
    const box = sandbox();
    const seed = startRun(box, ['exit', 'precious']);
    expect(await seed.exited).toBe(0);
    loseContainer(box);
    // Damage every snapshot object in the replica.
    const { readdirSync, writeFileSync } = await import('node:fs');
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    for (const file of walk(path.join(box.dir, 'replica')).filter((f) => /\.db\.(gz|zst)$/.test(f) && !f.includes('.persistd-meta')))
      writeFileSync(file, 'garbage');
    const run = startRun(box, ['serve']);
    const code = await run.exited;
    expect(code).not.toBe(0);
    expect(run.output().stdout).not.toContain('app start');
    expect(run.output().stderr).toContain('the app is NOT started');
  });
});
