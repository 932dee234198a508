import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnCaptured } from '../support/child-process.js';
import { pollUntil } from '../support/poll.js';
import { PERSISTD_BIN, runPersistd } from '../support/run-persistd.js';
import { parseExposition } from './prometheus-text.js';

const SECRET = 'sEcReTvAlUe/ShouldNeverAppear+1234567890';
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('persistd status against a real persistd run', () => {
  it(
    'serves /healthz and /metrics while running, and persistd status reads the status file and the replica',
    { timeout: 90_000 },
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'persistd-status-'));
      dirs.push(dir);
      mkdirSync(path.join(dir, 'data', 'uploads'), { recursive: true });
      const dbPath = path.join(dir, 'data', 'app.db');
      const db = new Database(dbPath);
      db.exec("CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES ('hello')");
      db.close();
      writeFileSync(path.join(dir, 'data', 'uploads', 'a.txt'), 'first file');
      const port = await freePort();
      const replica = `file://${path.join(dir, 'replica')}`;
      const stateDir = path.join(dir, 'state');
      const common = ['--to', replica, '--state-dir', stateDir];
      const persistd = spawnCaptured(
        process.execPath,
        [
          PERSISTD_BIN,
          'run',
          ...common,
          '--db',
          dbPath,
          '--dir',
          `uploads=${path.join(dir, 'data', 'uploads')}`,
          '--snapshot-interval',
          '1s',
          '--metrics-addr',
          `127.0.0.1:${port}`,
          '--',
          process.execPath,
          '-e',
          'setInterval(() => {}, 1000)',
        ],
        { env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: SECRET } },
      );
      const run = persistd.child;
      // Until the server listens, fetch fails: that is "not yet".
      const untilServed = { timeoutMs: 20_000, intervalMs: 50, retryErrors: true, detail: () => `stderr: ${persistd.stderr()}` };
      const base = `http://127.0.0.1:${port}`;
      try {
        const health = await pollUntil(
          '/healthz to answer 200',
          async () => {
            const res = await fetch(`${base}/healthz`);
            return res.status === 200 ? ((await res.json()) as Record<string, any>) : undefined;
          },
          untilServed,
        );
        expect(health).toMatchObject({ status: 'ok', restored: true, replicating: true, lastError: null });
        expect(health.targets.map((t: { kind: string; name: string }) => `${t.kind} ${t.name}`)).toEqual(['db app.db', 'dir uploads']);

        // The 1 s schedule stores a first snapshot; the initial reconcile uploads a.txt.
        const metrics = await pollUntil(
          'a snapshot and an upload in /metrics',
          async () => {
            const m = parseExposition(await (await fetch(`${base}/metrics`)).text());
            return m.has('persistd_last_success_timestamp_seconds', { kind: 'db', target: 'app.db' }) &&
              m.value('persistd_uploaded_items_total', { kind: 'db', target: 'app.db' }) >= 1 &&
              m.value('persistd_uploaded_items_total', { kind: 'dir', target: 'uploads' }) >= 1
              ? m
              : undefined;
          },
          untilServed,
        );
        expect(metrics.value('persistd_up')).toBe(1);
        expect(metrics.value('persistd_phase', { phase: 'running' })).toBe(1);
        expect(metrics.value('persistd_healthy')).toBe(1);
        expect(metrics.value('persistd_uploaded_bytes_total', { kind: 'dir', target: 'uploads' })).toBe('first file'.length);
        expect(metrics.value('persistd_replication_lag_seconds', { kind: 'db', target: 'app.db' })).toBeLessThan(10);
        expect(metrics.value('persistd_store_requests_total', { op: 'put' })).toBeGreaterThanOrEqual(3);
        expect(metrics.value('persistd_store_bytes_total', { op: 'put' })).toBeGreaterThan('first file'.length);

        // A deleted file goes to the trash under files/uploads/.persistd/, which --remote does not count.
        writeFileSync(path.join(dir, 'data', 'uploads', 'b.txt'), 'second');
        await pollUntil(
          'b.txt to be uploaded',
          async () =>
            parseExposition(await (await fetch(`${base}/metrics`)).text()).value('persistd_uploaded_items_total', {
              kind: 'dir',
              target: 'uploads',
            }) >= 2,
          untilServed,
        );
        unlinkSync(path.join(dir, 'data', 'uploads', 'a.txt'));
        await pollUntil(
          'a.txt to move to the trash',
          () => !existsSync(path.join(dir, 'replica', 'files', 'uploads', 'a.txt')),
          untilServed,
        );

        const text = await runPersistd(['status', ...common]);
        expect(text.code).toBe(0);
        expect(text.stdout).toContain(`persistd (pid ${run.pid}) is running, healthy`);
        expect(text.stdout).toMatch(/db\s+app\.db\s+\S+ ago/);
        expect(text.stdout).toMatch(/db\s+app\.db.*ok \((WAL, \d+ tx shipped|snapshots)/);
        expect(text.stdout).toMatch(/dir\s+uploads\s+\S+ ago/);

        const json = await runPersistd(['status', ...common, '--remote', '--json']);
        expect(json.code).toBe(0);
        const parsed = JSON.parse(json.stdout) as { local: Record<string, any>; remote: Record<string, any> };
        expect(parsed.local).toMatchObject({ running: true, stale: false, status: { pid: run.pid, phase: 'running', healthy: true } });
        expect(parsed.remote.databases).toHaveLength(1);
        expect(parsed.remote.databases[0].name).toBe('app.db');
        expect(parsed.remote.databases[0].snapshots.length).toBeGreaterThanOrEqual(1);
        expect(parsed.remote.directories).toEqual([{ name: 'uploads', kind: 'dir', objects: 1, bytes: 'second'.length }]);

        const exposed = [
          readFileSync(path.join(stateDir, 'status.json'), 'utf8'),
          json.stdout,
          await (await fetch(`${base}/metrics`)).text(),
          await (await fetch(`${base}/healthz`)).text(),
        ];
        for (const text of exposed) {
          expect(text).not.toContain(SECRET);
          expect(text).not.toContain('AKIAIOSFODNN7EXAMPLE');
        }
      } finally {
        run.kill('SIGTERM');
      }
      // The app has no SIGTERM handler: it dies of the signal, and persistd passes 128 + 15 on.
      const { code, stderr } = await persistd.exited;
      expect(code).toBe(143);
      expect(stderr).toContain('final backup complete');
      await expect(fetch(`${base}/healthz`)).rejects.toThrow();

      const after = await runPersistd(['status', '--state-dir', stateDir]);
      expect(after.code).toBe(1);
      expect(after.stdout).toContain('is not running (stopped');
      const none = await runPersistd(['status', '--state-dir', path.join(dir, 'elsewhere')]);
      expect(none.code).toBe(1);
      expect(none.stdout).toContain('no persistd run has written a status file');
    },
  );

  it('tells a crashed instance and a hung one from a running one, and lists an empty replica', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'persistd-status-'));
    dirs.push(dir);
    const stateDir = path.join(dir, 'state');
    mkdirSync(stateDir);
    const dead = spawnCaptured(process.execPath, ['-e', '']);
    await dead.exited;
    const file = (pid: number, updatedAt: string): void =>
      writeFileSync(
        path.join(stateDir, 'status.json'),
        JSON.stringify({
          format: 1,
          pid,
          phase: 'running',
          startedAt: updatedAt,
          updatedAt,
          restoredAt: updatedAt,
          appPid: null,
          replica: null,
          healthy: true,
          problems: [],
          lastError: null,
          queueLength: 0,
          requests: null,
          targets: [],
        }),
      );

    file(dead.child.pid!, new Date().toISOString());
    const crashed = await runPersistd(['status', '--state-dir', stateDir]);
    expect(crashed.code).toBe(1);
    expect(crashed.stdout).toContain(`persistd (pid ${dead.child.pid}) is not running (gone without stopping`);

    // A live pid (this test process) whose file stopped being rewritten an hour ago.
    file(process.pid, new Date(Date.now() - 3600_000).toISOString());
    const hung = await runPersistd(['status', '--state-dir', stateDir]);
    expect(hung.code).toBe(1);
    expect(hung.stdout).toContain('is not updating its status');

    const remote = await runPersistd([
      'status',
      '--state-dir',
      path.join(dir, 'none'),
      '--remote',
      '--to',
      `file://${path.join(dir, 'replica')}`,
    ]);
    expect(remote.code).toBe(0);
    expect(remote.stdout).toContain('no persistd run has written a status file');
    expect(remote.stdout).toContain('empty (nothing backed up yet)');
  });
});
