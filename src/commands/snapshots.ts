import type { CommandInvocation } from '../cli/program.js';
import { readReplicaMarker } from '../format/replica-marker.js';
import { formatBytes, formatDuration } from '../log/human-format.js';
import { listDatabaseNames, listSnapshots } from '../sqlite/snapshot-catalog.js';
import { println, type CommandContext } from './command-context.js';
import { openReplica } from './open-replica.js';

/** `persistd snapshots`: lists what can be restored, per database (the configured ones, or every one in the replica). */
export async function snapshotsCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const { store } = openReplica(ctx.config, ctx.logger);
  await readReplicaMarker(store, ctx.signal);
  const names = ctx.config.databases.length > 0 ? ctx.config.databases.map((db) => db.name) : await listDatabaseNames(store, ctx.signal);
  const now = Date.now();
  const result = [];
  for (const name of names) {
    const snapshots = await listSnapshots({ store, name, signal: ctx.signal });
    result.push({ database: name, snapshots: snapshots.map(({ manifest: _manifest, ...rest }) => ({ ...rest, createdAt: rest.createdAt.toISOString() })) });
    if (invocation.options.json) continue;
    println(ctx, `${name}: ${snapshots.length === 0 ? 'no snapshots' : `${snapshots.length} snapshot(s)`}`);
    if (snapshots.length === 0) continue;
    const rows = snapshots.map((snapshot) => [snapshot.id, snapshot.createdAt.toISOString(), formatBytes(snapshot.size),
      formatBytes(snapshot.compressedSize), `${formatDuration(now - snapshot.createdAt.getTime())} ago`]);
    printTable(ctx, ['ID', 'TIME', 'SIZE', 'STORED', 'AGE'], rows);
  }
  if (invocation.options.json) println(ctx, JSON.stringify(result, null, 2));
  else if (names.length === 0) println(ctx, `no databases in ${store.description}`);
  return 0;
}

function printTable(ctx: CommandContext, header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  for (const row of [header, ...rows]) println(ctx, `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}`);
}
