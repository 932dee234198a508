import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PersistdError, messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RunPhase, RunStatus } from './run-status.js';

/** A running metrics server. */
export interface MetricsServer {
  /** The address actually bound (the port is the real one when 0 was asked for). */
  readonly address: { host: string; port: number };
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Content type of the Prometheus text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const PHASES: readonly RunPhase[] = ['restoring', 'running', 'stopping', 'stopped'];

/**
 * Serves `GET /metrics` (Prometheus text format) and `GET /healthz` (JSON; 200 healthy, 503 not) on
 * `addr`, built from `snapshot()` on every request. Only what RunStatus holds is exposed: names, times,
 * counts and redacted error messages, never configuration or credentials.
 */
export async function startMetricsServer(
  addr: { host: string; port: number },
  snapshot: () => RunStatus,
  logger: Pick<Logger, 'info' | 'warn'>,
): Promise<MetricsServer> {
  const server = createServer((req, res) => handle(req, res, snapshot, logger));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new PersistdError(
          `cannot serve metrics on ${addr.host}:${addr.port}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : messageOf(err)}`,
          {
            kind: 'usage',
            op: 'listen',
            hint: 'pick a free port with --metrics-addr (or PERSISTD_METRICS_ADDR), or leave it unset to serve no metrics',
            cause: err,
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.warn({ err: messageOf(err) }, 'metrics server error'));
  const bound = server.address() as AddressInfo;
  const address = { host: addr.host, port: bound.port };
  logger.info({ metricsAddr: `${address.host}:${address.port}` }, 'serving /metrics and /healthz');
  return { address, close: () => closeServer(server) };
}

function handle(req: IncomingMessage, res: ServerResponse, snapshot: () => RunStatus, logger: Pick<Logger, 'warn'>): void {
  const pathname = (req.url ?? '/').split('?')[0];
  if (pathname !== '/metrics' && pathname !== '/healthz')
    return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics or /healthz\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  let status: RunStatus;
  try {
    status = snapshot();
  } catch (err) {
    logger.warn({ err: messageOf(err) }, 'building the status for /metrics or /healthz failed');
    return send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
  }
  if (pathname === '/metrics') return send(res, 200, METRICS_CONTENT_TYPE, renderMetrics(status), req.method === 'HEAD');
  send(
    res,
    status.healthy ? 200 : 503,
    'application/json; charset=utf-8',
    `${JSON.stringify(healthBody(status))}\n`,
    req.method === 'HEAD',
  );
}

/** The /healthz document: overall state, and per target its lag and last success. */
export function healthBody(status: RunStatus): Record<string, unknown> {
  return {
    status: status.healthy ? 'ok' : status.phase === 'running' ? 'unhealthy' : status.phase,
    phase: status.phase,
    restored: status.restoredAt !== null,
    replicating: status.phase === 'running',
    problems: status.problems,
    lastError: status.lastError,
    targets: status.targets.map((t) => ({
      kind: t.kind,
      name: t.name,
      healthy: t.healthy,
      lagSeconds: t.lagSeconds,
      lastSuccessAt: t.lastSuccessAt,
      ...(t.kind === 'db' ? { mode: t.mode, lagBytes: t.lagBytes, generation: t.generation, fenced: t.fenced } : {}),
    })),
  };
}

/** RunStatus as Prometheus text exposition format 0.0.4, every metric prefixed `persistd_`. */
export function renderMetrics(status: RunStatus): string {
  const out: string[] = [];
  const family = (
    name: string,
    type: 'gauge' | 'counter',
    help: string,
    samples: Array<[Record<string, string>, number | null | undefined]>,
  ): void => {
    const present = samples.filter((s): s is [Record<string, string>, number] => typeof s[1] === 'number' && Number.isFinite(s[1]));
    if (present.length === 0) return;
    out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of present) out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  };
  const seconds = (text: string | null): number | null => (text === null ? null : Date.parse(text) / 1000);
  const targets = status.targets;
  const byTarget = (value: (t: RunStatus['targets'][number]) => number | null): Array<[Record<string, string>, number | null]> =>
    targets.map((t) => [{ kind: t.kind, target: t.name }, value(t)]);

  family('persistd_up', 'gauge', 'Always 1 while persistd serves metrics.', [[{}, 1]]);
  family(
    'persistd_phase',
    'gauge',
    'Phase of persistd run: 1 for the current phase, 0 for the others.',
    PHASES.map((p) => [{ phase: p }, p === status.phase ? 1 : 0]),
  );
  family('persistd_healthy', 'gauge', 'Whether /healthz answers 200 (1) or 503 (0).', [[{}, status.healthy ? 1 : 0]]);
  family('persistd_start_time_seconds', 'gauge', 'When persistd run started, seconds since the epoch.', [[{}, seconds(status.startedAt)]]);
  family('persistd_restored_timestamp_seconds', 'gauge', 'When restore completed, seconds since the epoch (absent before).', [
    [{}, seconds(status.restoredAt)],
  ]);
  family(
    'persistd_last_success_timestamp_seconds',
    'gauge',
    'Last successful backup of the target, seconds since the epoch (absent until the first one).',
    byTarget((t) => seconds(t.lastSuccessAt)),
  );
  family(
    'persistd_replication_lag_seconds',
    'gauge',
    'WAL database: seconds the oldest committed transaction not yet stored has waited; other databases: seconds since the last good snapshot; trees: 0 when nothing waits.',
    byTarget((t) => t.lagSeconds),
  );
  const dbs = targets.filter((t) => t.kind === 'db');
  const byDb = (value: (t: RunStatus['targets'][number]) => number): Array<[Record<string, string>, number]> =>
    dbs.map((t) => [{ target: t.name }, value(t)]);
  family(
    'persistd_replication_lag_bytes',
    'gauge',
    'WAL bytes of the database written and not yet stored.',
    byDb((t) => t.lagBytes),
  );
  family(
    'persistd_wal_mode',
    'gauge',
    'Whether the database is replicated continuously from its WAL (1) or by snapshots only (0).',
    byDb((t) => (t.mode === 'wal' ? 1 : 0)),
  );
  family(
    'persistd_wal_transactions_total',
    'counter',
    'Transactions stored in WAL segments by this run.',
    byDb((t) => t.transactionsShipped),
  );
  family(
    'persistd_replica_verified',
    'gauge',
    "Result of the last --verify-interval check of the database's replica: 1 restorable, 0 failed (absent before the first check).",
    dbs.map((t) => [{ target: t.name }, t.lastVerify === null ? null : t.lastVerify.ok ? 1 : 0]),
  );
  family(
    'persistd_fenced',
    'gauge',
    "Whether another instance took the database's lineage (1): this one writes only its own generation.",
    byDb((t) => (t.fenced ? 1 : 0)),
  );
  family(
    'persistd_target_healthy',
    'gauge',
    'Whether the target passes the health rule (1) or not (0).',
    byTarget((t) => (t.healthy ? 1 : 0)),
  );
  family(
    'persistd_target_failing',
    'gauge',
    "Whether the target's last backup attempt or uploads are failing (1) or not (0).",
    byTarget((t) => (t.failing ? 1 : 0)),
  );
  family(
    'persistd_upload_queue_length',
    'gauge',
    'Changed files waiting to be uploaded (queued, uploading or settling).',
    byTarget((t) => t.queued),
  );
  family(
    'persistd_uploaded_bytes_total',
    'counter',
    'Bytes uploaded for the target by this run (compressed for databases).',
    byTarget((t) => t.bytesUploaded),
  );
  family(
    'persistd_uploaded_items_total',
    'counter',
    'Snapshots stored (db) or files uploaded (dir, file) by this run.',
    byTarget((t) => t.itemsUploaded),
  );
  const ops = status.requests ? Object.entries(status.requests) : [];
  family(
    'persistd_store_requests_total',
    'counter',
    'Requests sent to the store by operation, every retry attempt included.',
    ops.map(([op, c]) => [{ op }, c.requests]),
  );
  family(
    'persistd_store_errors_total',
    'counter',
    'Store requests that failed, by operation (not-found answers to head and get included).',
    ops.map(([op, c]) => [{ op }, c.errors]),
  );
  family(
    'persistd_store_bytes_total',
    'counter',
    'Bytes sent (put) or received (get) by operation.',
    ops.map(([op, c]) => [{ op }, c.bytes]),
  );
  family(
    'persistd_store_objects_total',
    'counter',
    'Objects listed (list) or asked to be deleted (delete).',
    ops.filter(([op]) => op === 'list' || op === 'delete').map(([op, c]) => [{ op }, c.objects]),
  );
  family('persistd_errors_total', 'counter', 'Failed store requests over every operation.', [
    [{}, ops.reduce((sum, [, c]) => sum + c.errors, 0)],
  ]);
  return `${out.join('\n')}\n`;
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
}

function send(res: ServerResponse, code: number, contentType: string, body: string, headOnly = false): void {
  res.writeHead(code, { 'Content-Type': contentType, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
  res.end(headOnly ? undefined : body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
