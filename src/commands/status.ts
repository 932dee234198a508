import type { CommandInvocation } from './command-invocation.js';
import type { RunStatus, TargetStatus } from '../engine/run-status.js';
import { listKeptAside, type KeptAside } from '../files/aside-catalog.js';
import { STATUS_FILE_INTERVAL_MS, isProcessAlive, readStatusFile, statusFilePath } from '../engine/status-file.js';
import { FILES_ROOT, LOOSE_TREE, RESERVED_SEGMENT } from '../format/files-keys.js';
import { readReplicaMarker } from '../format/replica-marker.js';
import { formatBytes, formatDuration } from '../log/human-format.js';
import { listDatabaseNames, scanSnapshots, storageError } from '../sqlite/snapshot-catalog.js';
import type { ObjectStore } from '../store/object-store.js';
import { println, type CommandContext } from './command-context.js';
import { openReplica } from './open-replica.js';
import { EXIT_CODES } from '../exit-codes.js';

/** A status file older than this, from a live pid, means the instance is hung (or the pid was reused). */
const STALE_AFTER_MS = 15 * STATUS_FILE_INTERVAL_MS;

/** What `persistd status` found about the local instance. */
export interface LocalInstance {
  file: string;
  /** The pid exists, the file is fresh and does not say stopped. */
  running: boolean;
  /** The pid exists but the file has not been rewritten for a while. */
  stale: boolean;
  status: RunStatus;
}

/** What `persistd status --remote` found in the replica. */
export interface RemoteSummary {
  replica: string;
  databases: Array<{ name: string; snapshots: Array<{ id: string; createdAt: string; compressedSize: number | null }> }>;
  directories: Array<{ name: string; kind: 'dir' | 'files'; objects: number; bytes: number }>;
  /** File changes fenced instances kept aside instead of overwriting the live ones. */
  keptAside: KeptAside[];
}

/**
 * `persistd status`: reads `<stateDir>/status.json` written by a running `persistd run`, and with
 * `--remote` lists what the replica holds. Exit 0 when the instance runs and is healthy (or, with
 * `--remote`, when there is no local instance but the replica could be listed), 1 otherwise.
 */
export async function statusCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const json = invocation.options.json === true;
  const remoteWanted = invocation.options.remote === true;
  const local = await readLocal(ctx.config.stateDir);
  const remote = remoteWanted ? await readRemote(ctx) : undefined;
  if (json) {
    println(ctx, JSON.stringify({ local: local ?? null, ...(remote ? { remote } : {}) }, null, 2));
  } else {
    if (local) printLocal(ctx, local);
    else println(ctx, `no persistd run has written a status file in ${ctx.config.stateDir} (is --state-dir the one persistd run uses?)`);
    if (remote) printRemote(ctx, remote);
  }
  if (!local) return remote ? EXIT_CODES.ok : EXIT_CODES.notHealthy;
  return local.running && !local.stale && local.status.healthy ? EXIT_CODES.ok : EXIT_CODES.notHealthy;
}

async function readLocal(stateDir: string): Promise<LocalInstance | undefined> {
  const status = await readStatusFile(stateDir);
  if (!status) return undefined;
  const alive = status.phase !== 'stopped' && isProcessAlive(status.pid);
  const stale = alive && Date.now() - Date.parse(status.updatedAt) > STALE_AFTER_MS;
  return { file: statusFilePath(stateDir), running: alive, stale, status };
}

async function readRemote(ctx: CommandContext): Promise<RemoteSummary> {
  const { store } = openReplica(ctx.config, ctx.logger);
  await readReplicaMarker(store, ctx.signal);
  const databases: RemoteSummary['databases'] = [];
  for (const name of await listDatabaseNames(store, ctx.signal)) {
    const { entries } = await scanSnapshots(store, name, ctx.signal);
    databases.push({
      name,
      snapshots: entries.map((e) => ({ id: e.id, createdAt: e.createdAt.toISOString(), compressedSize: e.compressedSize ?? null })),
    });
  }
  return {
    replica: store.description,
    databases,
    directories: await summarizeTrees(store, ctx.signal),
    keptAside: await listKeptAside(store, ctx.signal),
  };
}

/** Object count and bytes per tree under `files/`, without persistd's reserved `.persistd/` entries (trash). */
async function summarizeTrees(store: ObjectStore, signal: AbortSignal): Promise<RemoteSummary['directories']> {
  const trees = new Map<string, { objects: number; bytes: number }>();
  try {
    for await (const info of store.list(FILES_ROOT, { signal })) {
      const rest = info.key.slice(FILES_ROOT.length);
      const slash = rest.indexOf('/');
      if (slash <= 0 || rest.startsWith(RESERVED_SEGMENT)) continue; // persistd's own (owner pointer, kept aside)
      const relPath = rest.slice(slash + 1);
      if (relPath === '' || relPath === RESERVED_SEGMENT || relPath.startsWith(`${RESERVED_SEGMENT}/`)) continue;
      const tree = trees.get(rest.slice(0, slash)) ?? { objects: 0, bytes: 0 };
      tree.objects++;
      tree.bytes += info.size;
      trees.set(rest.slice(0, slash), tree);
    }
  } catch (err) {
    throw storageError(err, 'cannot list the directories in the store', FILES_ROOT);
  }
  return [...trees]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, t]) => ({ name, kind: name === LOOSE_TREE ? 'files' : 'dir', ...t }));
}

/** One line about what a fenced instance kept aside (shared with `snapshots`). */
export function describeAside(aside: KeptAside): string {
  const by = aside.fencedBy ? `, fenced by ${aside.fencedBy.host} at ${aside.fencedBy.takenAt}` : '';
  return (
    `kept aside by instance ${aside.instance}${aside.host ? ` (${aside.host})` : ''}${by}: ${aside.files} file(s), ${formatBytes(aside.bytes)}` +
    `${aside.newestAt ? `, newest ${aside.newestAt}` : ''}; restore with --aside ${aside.instance}`
  );
}

function printLocal(ctx: CommandContext, local: LocalInstance): void {
  const { status } = local;
  const now = Date.now();
  const ago = (iso: string | null): string => (iso === null ? '-' : `${formatDuration(now - Date.parse(iso))} ago`);
  const state = local.stale
    ? `is not updating its status (last update ${ago(status.updatedAt)}; hung, or the pid was reused)`
    : local.running
      ? `is ${status.phase === 'running' ? 'running' : status.phase}, ${status.healthy ? 'healthy' : 'UNHEALTHY'}`
      : `is not running (${status.phase === 'stopped' ? 'stopped' : 'gone without stopping'}; last update ${ago(status.updatedAt)})`;
  println(ctx, `persistd (pid ${status.pid}) ${state}`);
  println(
    ctx,
    `  started ${status.startedAt} (${ago(status.startedAt)}), restored ${status.restoredAt === null ? 'not yet' : ago(status.restoredAt)}, app pid ${status.appPid ?? '-'}`,
  );
  if (status.replica) println(ctx, `  replica ${status.replica}`);
  if (local.running) for (const problem of status.problems) println(ctx, `  problem: ${problem}`);
  else println(ctx, '  figures below are as of its last update');
  if (status.targets.length > 0) {
    const rows = status.targets.map((t) => [
      t.kind,
      t.name,
      t.lastSuccessAt === null ? 'never' : ago(t.lastSuccessAt),
      lag(t),
      String(t.queued),
      formatBytes(t.bytesUploaded),
      targetState(t),
    ]);
    printTable(ctx, ['KIND', 'NAME', 'LAST SUCCESS', 'LAG', 'QUEUE', 'UPLOADED', 'STATE'], rows);
  }
  if (status.requests) {
    const ops = Object.entries(status.requests).map(([op, c]) => {
      const notes = [...(c.bytes > 0 ? [formatBytes(c.bytes)] : []), ...(c.errors > 0 ? [`${c.errors} failed`] : [])];
      return `${op} ${c.requests}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
    });
    println(ctx, `  requests: ${ops.join(', ')}`);
  }
  if (status.lastError) println(ctx, `  last error (${ago(status.lastError.at)}): ${status.lastError.message}`);
}

function lag(t: TargetStatus): string {
  return t.lagSeconds === null ? '-' : formatDuration(t.lagSeconds * 1000);
}

function targetState(t: TargetStatus): string {
  // Status files of older versions have no mode.
  const mode =
    t.kind === 'db' && typeof t.mode === 'string'
      ? ` (${t.mode === 'wal' ? `WAL, ${t.transactionsShipped ?? 0} tx shipped${t.lagBytes ? `, ${formatBytes(t.lagBytes)} waiting` : ''}` : t.mode})`
      : '';
  if (t.fenced === true) return `FENCED${mode}`;
  if (!t.healthy) return `UNHEALTHY${mode}`;
  return `${t.failing ? 'failing' : 'ok'}${mode}`;
}

function printRemote(ctx: CommandContext, remote: RemoteSummary): void {
  println(ctx, `replica ${remote.replica}:`);
  if (remote.databases.length === 0 && remote.directories.length === 0) println(ctx, '  empty (nothing backed up yet)');
  const now = Date.now();
  for (const db of remote.databases) {
    const latest = db.snapshots.at(-1);
    println(
      ctx,
      `  db ${db.name}: ${db.snapshots.length} snapshot(s)${latest ? `, latest ${latest.id} at ${latest.createdAt} (${formatDuration(now - Date.parse(latest.createdAt))} ago${latest.compressedSize === null ? '' : `, ${formatBytes(latest.compressedSize)} stored`})` : ''}`,
    );
  }
  for (const tree of remote.directories) {
    println(
      ctx,
      `  ${tree.kind === 'files' ? 'files (loose)' : `dir ${tree.name}`}: ${tree.objects} object(s), ${formatBytes(tree.bytes)}`,
    );
  }
  for (const aside of remote.keptAside) println(ctx, `  ${describeAside(aside)}`);
}

function printTable(ctx: CommandContext, header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  for (const row of [header, ...rows])
    println(
      ctx,
      `  ${row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd()}`,
    );
}
