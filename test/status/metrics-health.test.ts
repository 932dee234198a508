import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { PersistdError } from '../../src/errors.js';
import type { TreeSyncStatus } from '../../src/files/tree-sync.js';
import { METRICS_CONTENT_TYPE, renderMetrics, startMetricsServer, type MetricsServer } from '../../src/engine/metrics-server.js';
import { RunStatusTracker, schedulePeriodMs, type StatusSource } from '../../src/engine/run-status.js';
import { silentLogger } from '../../src/log/logger.js';
import type { DatabaseSyncStatus } from '../../src/engine/database-sync.js';
import { openStore, type OpenedStore } from '../../src/store/open-store.js';
import { parseExposition } from './prometheus-text.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');

function config(schedule = '1m'): Config {
  return {
    databases: [{ name: 'app.db', path: '/data/app.db' }],
    directories: [{ name: 'uploads', path: '/data/uploads' }],
    files: [{ name: 'tokens.json', path: '/data/tokens.json' }],
    snapshotSchedule: schedule,
    syncIntervalMs: 1000,
  } as unknown as Config;
}

function dbStatus(over: Partial<DatabaseSyncStatus> = {}): DatabaseSyncStatus {
  return {
    name: 'app.db',
    path: '/data/app.db',
    exists: true,
    running: false,
    lastSnapshotId: undefined,
    lastSuccessAt: undefined,
    lastSnapshotAt: undefined,
    lastError: undefined,
    consecutiveFailures: 0,
    snapshotsStored: 0,
    snapshotsSkippedUnchanged: 0,
    bytesUploaded: 0,
    lastDatabaseBytes: undefined,
    mode: 'snapshots',
    generation: undefined,
    lagSeconds: 0,
    lagBytes: 0,
    stalled: false,
    transactionsShipped: 0,
    segmentsShipped: 0,
    lastVerify: undefined,
    fencedBy: undefined,
    ...over,
  };
}

function treeStatus(label: string, over: Partial<TreeSyncStatus> = {}): TreeSyncStatus {
  return {
    label,
    queued: 0,
    inFlight: 0,
    uploadedItems: 0,
    uploadedBytes: 0,
    lastSuccessAt: undefined,
    lastError: undefined,
    unreadable: [],
    failing: 0,
    symlinks: 0,
    watching: true,
    settling: 0,
    pendingDeletes: 0,
    deletesPaused: false,
    deletedItems: 0,
    indexed: 0,
    inReplica: undefined,
    lostFromReplica: 0,
    fenced: false,
    keptAside: 0,
    keptAsideBytes: 0,
    ...over,
  };
}

/** A daemon stand-in whose target statuses the test sets directly. */
class FakeDaemon implements StatusSource {
  db = dbStatus();
  uploads = treeStatus('uploads');
  loose = treeStatus('_loose/tokens.json');
  status(): ReturnType<StatusSource['status']> {
    return { databases: [this.db], trees: [this.uploads, this.loose] };
  }
}

async function get(server: MetricsServer, route: string, method = 'GET'): Promise<{ code: number; type: string | null; text: string }> {
  const res = await fetch(`http://127.0.0.1:${server.address.port}${route}`, { method });
  return { code: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

async function health(server: MetricsServer): Promise<{ code: number; body: Record<string, any> }> {
  const res = await get(server, '/healthz');
  expect(res.type).toMatch(/^application\/json/);
  return { code: res.code, body: JSON.parse(res.text) as Record<string, any> };
}

describe('metrics server', () => {
  let now = T0;
  let tracker: RunStatusTracker;
  let daemon: FakeDaemon;
  let server: MetricsServer;
  let replica: OpenedStore;
  let dir: string;

  beforeEach(async () => {
    now = T0;
    tracker = new RunStatusTracker(config(), 4242, T0 - 10_000);
    daemon = new FakeDaemon();
    dir = await mkdtemp(path.join(tmpdir(), 'persistd-metrics-'));
    replica = openStore({ kind: 'fs', root: dir });
    server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, () => tracker.snapshot(now), silentLogger());
  });

  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves every figure in the Prometheus text format, with the values of the run', async () => {
    await replica.store.put('a/b.txt', 'hello');
    for await (const _chunk of await replica.store.get('a/b.txt')) {
      /* read it whole so the bytes count */
    }
    await expect(replica.store.get('missing')).rejects.toThrow();
    tracker.attach({ replica: 'file:///backups', counting: replica.counting, daemon });
    tracker.markRestored(T0 - 8_000);
    tracker.setAppPid(77);
    tracker.setPhase('running');
    daemon.db = dbStatus({ lastSuccessAt: new Date(T0 - 5_000), bytesUploaded: 1234, snapshotsStored: 2 });
    daemon.uploads = treeStatus('uploads', {
      queued: 2,
      inFlight: 1,
      uploadedBytes: 99,
      uploadedItems: 3,
      lastSuccessAt: new Date(T0 - 2_500),
    });

    const res = await get(server, '/metrics');
    expect(res.code).toBe(200);
    expect(res.type).toBe(METRICS_CONTENT_TYPE);
    const m = parseExposition(res.text);
    for (const name of m.types.keys()) {
      expect(name.startsWith('persistd_')).toBe(true);
      expect(m.helps.has(name)).toBe(true);
      expect(m.types.get(name)).toBe(name.endsWith('_total') ? 'counter' : 'gauge');
    }
    expect(m.value('persistd_up')).toBe(1);
    expect(m.value('persistd_phase', { phase: 'running' })).toBe(1);
    expect(m.value('persistd_phase', { phase: 'restoring' })).toBe(0);
    expect(m.value('persistd_healthy')).toBe(1);
    expect(m.value('persistd_start_time_seconds')).toBe((T0 - 10_000) / 1000);
    expect(m.value('persistd_restored_timestamp_seconds')).toBe((T0 - 8_000) / 1000);
    const db = { kind: 'db', target: 'app.db' };
    expect(m.value('persistd_last_success_timestamp_seconds', db)).toBe((T0 - 5_000) / 1000);
    expect(m.value('persistd_replication_lag_seconds', db)).toBe(5);
    expect(m.value('persistd_uploaded_bytes_total', db)).toBe(1234);
    expect(m.value('persistd_uploaded_items_total', db)).toBe(2);
    const uploads = { kind: 'dir', target: 'uploads' };
    expect(m.value('persistd_upload_queue_length', uploads)).toBe(3);
    expect(m.value('persistd_replication_lag_seconds', uploads)).toBe(2.5);
    expect(m.value('persistd_uploaded_bytes_total', uploads)).toBe(99);
    const loose = { kind: 'file', target: 'tokens.json' };
    expect(m.value('persistd_upload_queue_length', loose)).toBe(0);
    expect(m.value('persistd_replication_lag_seconds', loose)).toBe(0);
    // Nothing waits in the loose tree, so it counts as backed up as of this scrape.
    expect(m.value('persistd_last_success_timestamp_seconds', loose)).toBe(T0 / 1000);
    expect(m.value('persistd_store_requests_total', { op: 'put' })).toBe(1);
    expect(m.value('persistd_store_bytes_total', { op: 'put' })).toBe(5);
    expect(m.value('persistd_store_requests_total', { op: 'get' })).toBe(2);
    expect(m.value('persistd_store_bytes_total', { op: 'get' })).toBe(5);
    expect(m.value('persistd_store_errors_total', { op: 'get' })).toBe(1);
    expect(m.value('persistd_store_errors_total', { op: 'put' })).toBe(0);
    expect(m.value('persistd_errors_total')).toBe(1);
    expect(res.text).not.toContain('/data/');
  });

  it('leaves out timestamps that do not exist yet, and escapes label values', () => {
    const status = new RunStatusTracker(config(), 1, T0).snapshot(T0);
    const m = parseExposition(renderMetrics(status));
    expect(m.value('persistd_phase', { phase: 'restoring' })).toBe(1);
    expect(m.has('persistd_restored_timestamp_seconds')).toBe(false);
    expect(m.has('persistd_last_success_timestamp_seconds', { kind: 'db', target: 'app.db' })).toBe(false);
    expect(m.has('persistd_store_requests_total', { op: 'put' })).toBe(false);
    const odd = { ...status, targets: status.targets.map((t) => ({ ...t, name: 'we"ird\\na\nme' })) };
    expect(parseExposition(renderMetrics(odd)).value('persistd_upload_queue_length', { kind: 'db', target: 'we"ird\\na\nme' })).toBe(0);
  });

  it('/healthz: 503 until restored, 200 while backups are fresh, 503 when a database is stale or a tree keeps failing', async () => {
    let h = await health(server);
    expect(h.code).toBe(503);
    expect(h.body).toMatchObject({ status: 'restoring', restored: false, replicating: false });

    tracker.markRestored(T0);
    tracker.attach({ daemon });
    tracker.setPhase('running');
    h = await health(server);
    expect(h.code).toBe(200);
    expect(h.body).toMatchObject({ status: 'ok', restored: true, replicating: true, lastError: null });
    expect(h.body.targets).toEqual([
      {
        kind: 'db',
        name: 'app.db',
        healthy: true,
        lagSeconds: 0,
        lastSuccessAt: null,
        mode: 'snapshots',
        lagBytes: 0,
        generation: null,
        fenced: false,
      },
      { kind: 'dir', name: 'uploads', healthy: true, lagSeconds: 0, lastSuccessAt: new Date(T0).toISOString() },
      { kind: 'file', name: 'tokens.json', healthy: true, lagSeconds: 0, lastSuccessAt: new Date(T0).toISOString() },
    ]);

    // Schedule 1m: a database with no successful snapshot for more than 2 × 1m is stale.
    now = T0 + 120_000;
    expect((await health(server)).code).toBe(200);
    now = T0 + 121_000;
    daemon.db = dbStatus({ consecutiveFailures: 2, lastError: { message: 'snapshot failed: disk full', at: new Date(now - 1000) } });
    h = await health(server);
    expect(h.code).toBe(503);
    expect(h.body.status).toBe('unhealthy');
    expect(h.body.problems).toEqual(['db app.db: no successful snapshot for 121s (limit 120s)']);
    expect(h.body.lastError).toEqual({ message: 'snapshot failed: disk full', at: new Date(now - 1000).toISOString() });
    expect(h.body.targets[0]).toMatchObject({ healthy: false, lagSeconds: 121 });
    daemon.db = dbStatus({ lastSuccessAt: new Date(now) });
    expect((await health(server)).code).toBe(200);

    // A tree whose uploads fail: unhealthy only once they have failed for more than 60 s.
    const failingSince = now;
    daemon.uploads = treeStatus('uploads', {
      queued: 1,
      lastSuccessAt: new Date(T0),
      lastError: { message: 'put failed: 503', path: 'a.png', at: new Date(now) },
    });
    h = await health(server);
    expect(h.code).toBe(200);
    now = failingSince + 60_000;
    daemon.uploads.lastError = { message: 'put failed: 503', path: 'a.png', at: new Date(now) };
    expect((await health(server)).code).toBe(200);
    now = failingSince + 61_000;
    h = await health(server);
    expect(h.code).toBe(503);
    expect(h.body.problems).toEqual(['dir uploads: uploads failing for more than 60s']);
    // Last seen with nothing waiting at the scrape just before the failure began.
    expect(h.body.targets[1]).toMatchObject({ kind: 'dir', healthy: false, lagSeconds: 61 });
    const m = parseExposition((await get(server, '/metrics')).text);
    expect(m.value('persistd_healthy')).toBe(0);
    expect(m.value('persistd_target_healthy', { kind: 'dir', target: 'uploads' })).toBe(0);
    expect(m.value('persistd_target_failing', { kind: 'dir', target: 'uploads' })).toBe(1);

    daemon.uploads = treeStatus('uploads', { lastSuccessAt: new Date(now), lastError: daemon.uploads.lastError });
    h = await health(server);
    expect(h.code).toBe(200);
    expect(h.body.targets[1]).toMatchObject({ healthy: true, lagSeconds: 0 });

    tracker.setPhase('stopping');
    h = await health(server);
    expect(h.code).toBe(503);
    expect(h.body).toMatchObject({ status: 'stopping', replicating: false });
  });

  it('/healthz and /metrics for a WAL database: lag from the oldest unstored transaction, stalled and fenced make it unhealthy', async () => {
    tracker.markRestored(T0);
    tracker.attach({ daemon });
    tracker.setPhase('running');
    const wal = {
      mode: 'wal' as const,
      generation: '20260301T115900000Z-0badc0de',
      lastSuccessAt: new Date(T0),
      transactionsShipped: 42,
      segmentsShipped: 3,
    };
    daemon.db = dbStatus({ ...wal, lagSeconds: 0.4, lagBytes: 8272 });
    let h = await health(server);
    expect(h.code).toBe(200);
    expect(h.body.targets[0]).toEqual({
      kind: 'db',
      name: 'app.db',
      healthy: true,
      lagSeconds: 0.4,
      lastSuccessAt: new Date(T0).toISOString(),
      mode: 'wal',
      lagBytes: 8272,
      generation: wal.generation,
      fenced: false,
    });
    let m = parseExposition((await get(server, '/metrics')).text);
    expect(m.value('persistd_replication_lag_bytes', { target: 'app.db' })).toBe(8272);
    expect(m.value('persistd_wal_mode', { target: 'app.db' })).toBe(1);
    expect(m.value('persistd_wal_transactions_total', { target: 'app.db' })).toBe(42);
    expect(m.value('persistd_fenced', { target: 'app.db' })).toBe(0);

    // Sync interval 1 s: stalled once transactions wait more than 30 s (the floor).
    daemon.db = dbStatus({
      ...wal,
      lagSeconds: 31,
      lagBytes: 1 << 20,
      consecutiveFailures: 9,
      lastError: { message: 'put failed: 503', at: new Date(T0) },
    });
    h = await health(server);
    expect(h.code).toBe(503);
    expect(h.body.problems).toEqual(['db app.db: WAL shipping stalled, transactions waiting 31s (limit 30s)']);

    daemon.db = dbStatus({
      ...wal,
      fencedBy: { instance: 'ffff', host: 'new-box', generation: '20260301T120000000Z-00000001', takenAt: new Date(T0).toISOString() },
    });
    h = await health(server);
    expect(h.code).toBe(503);
    expect(h.body.problems).toEqual(['db app.db: fenced, another instance took over its lineage']);
    m = parseExposition((await get(server, '/metrics')).text);
    expect(m.value('persistd_fenced', { target: 'app.db' })).toBe(1);

    // --verify-interval: a replica that does not rebuild cleanly makes the run unhealthy until a later check passes.
    daemon.db = dbStatus({ ...wal, lastVerify: { at: new Date(T0), ok: false, message: 'segment 0000000000-0000000001 does not verify' } });
    h = await health(server);
    expect(h.code).toBe(503);
    expect(h.body.problems).toEqual(['db app.db: replica verification failed: segment 0000000000-0000000001 does not verify']);
    expect(parseExposition((await get(server, '/metrics')).text).value('persistd_replica_verified', { target: 'app.db' })).toBe(0);
    daemon.db = dbStatus({ ...wal, lastVerify: { at: new Date(T0), ok: true, message: 'verified' } });
    expect((await health(server)).code).toBe(200);
    expect(parseExposition((await get(server, '/metrics')).text).value('persistd_replica_verified', { target: 'app.db' })).toBe(1);
  });

  it('answers only GET and HEAD on /metrics and /healthz', async () => {
    expect((await get(server, '/')).code).toBe(404);
    expect((await get(server, '/metrics', 'POST')).code).toBe(405);
    const head = await get(server, '/healthz', 'HEAD');
    expect(head.code).toBe(503);
    expect(head.text).toBe('');
  });

  it('refuses an address in use with a usage error', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startMetricsServer({ host: '127.0.0.1', port }, () => tracker.snapshot(), silentLogger()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PersistdError);
      expect((err as PersistdError).kind).toBe('usage');
      expect((err as PersistdError).message).toContain('address is in use');
    } finally {
      blocker.close();
    }
  });
});

describe('schedulePeriodMs', () => {
  it('reads intervals and cron expressions', () => {
    expect(schedulePeriodMs('5m')).toBe(300_000);
    expect(schedulePeriodMs('*/10 * * * *')).toBe(600_000);
    expect(schedulePeriodMs('0 2 * * *')).toBe(24 * 3600_000);
  });
});
