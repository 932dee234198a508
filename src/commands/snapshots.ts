import type { CommandInvocation } from './command-invocation.js';
import { listKeptAside } from '../files/aside-catalog.js';
import { readReplicaMarker } from '../format/replica-marker.js';
import { formatBytes, formatDuration } from '../log/human-format.js';
import { latestGeneration, newestRestorablePoint, scanGenerations, type GenerationSummary } from '../sqlite/generation-catalog.js';
import { lineageGeneration } from '../sqlite/restore-point.js';
import { listDatabaseNames, listSnapshots, type SnapshotListing } from '../sqlite/snapshot-catalog.js';
import { println, type CommandContext } from './command-context.js';
import { openReplica } from './open-replica.js';
import { describeAside } from './status.js';
import { EXIT_CODES } from '../exit-codes.js';

/** `persistd snapshots`: lists what can be restored, per database and generation: snapshots and WAL coverage. */
export async function snapshotsCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const { store } = openReplica(ctx.config, ctx.logger);
  await readReplicaMarker(store, ctx.signal);
  const names = ctx.config.databases.length > 0 ? ctx.config.databases.map((db) => db.name) : await listDatabaseNames(store, ctx.signal);
  const json = invocation.options.json === true;
  const now = Date.now();
  const result = [];
  for (const name of names) {
    const { entries, generations } = await scanGenerations(store, name, ctx.signal);
    const snapshots = await listSnapshots({ store, name, entries, signal: ctx.signal });
    const latest = latestGeneration(generations, { preferred: await lineageGeneration(store, name, ctx.logger, ctx.signal) })?.generation;
    const plain = (s: SnapshotListing) => ({
      id: s.id,
      generation: s.generation,
      createdAt: s.createdAt.toISOString(),
      size: s.size,
      compressedSize: s.compressedSize,
      kind: s.manifest.kind === 'sqlite-continuation' ? 'continuation' : s.manifest.kind === 'sqlite-increment' ? 'increment' : 'full',
      continues: s.manifest.kind === 'sqlite-continuation' ? s.manifest.base : null,
      appliesOn: s.manifest.kind === 'sqlite-increment' ? `${s.generation}/${s.manifest.base.seq}` : null,
      pages: s.manifest.kind === 'sqlite-increment' ? s.manifest.data.pages : null,
    });
    result.push({
      database: name,
      latestGeneration: latest ?? null,
      generations: generations.map((g) => ({
        generation: g.generation,
        latest: g.generation === latest,
        restorableUntil: newestRestorablePoint(g)?.toISOString() ?? null,
        snapshots: snapshots.filter((s) => s.generation === g.generation).map(plain),
        wal: walCoverage(g),
      })),
      snapshots: snapshots.map(plain),
    });
    if (json) continue;
    println(
      ctx,
      `${name}: ${snapshots.length === 0 ? 'no snapshots' : `${snapshots.length} snapshot(s) in ${generations.length} generation(s)`}`,
    );
    for (const g of [...generations].reverse()) {
      const wal = walCoverage(g);
      const coverage =
        wal.segments === 0
          ? 'no WAL segments'
          : `WAL ${wal.segments} segment(s), ${formatBytes(wal.bytes)}, shipped ${wal.firstShippedAt} .. ${wal.lastShippedAt}`;
      println(ctx, `  generation ${g.generation}${g.generation === latest ? ' (latest)' : ''}: ${coverage}`);
      const rows = snapshots
        .filter((s) => s.generation === g.generation)
        .reverse()
        .map((snapshot) => [
          snapshot.id,
          snapshot.createdAt.toISOString(),
          formatBytes(snapshot.size),
          storedAs(snapshot),
          `${formatDuration(now - snapshot.createdAt.getTime())} ago`,
        ]);
      if (rows.length > 0) printTable(ctx, ['ID', 'TIME', 'SIZE', 'STORED', 'AGE'], rows);
    }
  }
  if (json) println(ctx, JSON.stringify(result, null, 2));
  else if (names.length === 0) println(ctx, `no databases in ${store.description}`);
  // Files fenced instances kept aside (text only: the JSON form stays the list of databases; status --remote --json has them).
  if (!json) for (const aside of await listKeptAside(store, ctx.signal)) println(ctx, describeAside(aside));
  return EXIT_CODES.ok;
}

/** What a restore point stores: its compressed size and, for an increment or a continuation, the state it depends on. */
function storedAs(snapshot: SnapshotListing): string {
  if (snapshot.manifest.kind === 'sqlite-increment') {
    const { data, base, chain } = snapshot.manifest;
    return `${formatBytes(snapshot.compressedSize)}: ${data.pages} changed page(s) on ${base.seq} (increment ${chain.increments} since the last full snapshot)`;
  }
  if (snapshot.manifest.kind !== 'sqlite-continuation') return `${formatBytes(snapshot.compressedSize)}: full snapshot`;
  const { base } = snapshot.manifest;
  const wal = base.wal ? ` + its WAL to ${base.wal.epoch}:${base.wal.frame}` : '';
  return `nothing: continues ${base.generation}/${base.seq}${wal}`;
}

/** Segment count, stored bytes and first/last shipping time of a generation's WAL segments. */
function walCoverage(g: GenerationSummary): {
  segments: number;
  bytes: number;
  firstShippedAt: string | null;
  lastShippedAt: string | null;
} {
  let first = Infinity;
  let last = -Infinity;
  let bytes = 0;
  for (const s of g.segments) {
    first = Math.min(first, s.shippedAt.getTime());
    last = Math.max(last, s.shippedAt.getTime());
    bytes += s.size;
  }
  const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);
  return { segments: g.segments.length, bytes, firstShippedAt: iso(first), lastShippedAt: iso(last) };
}

function printTable(ctx: CommandContext, header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  for (const row of [header, ...rows])
    println(
      ctx,
      `    ${row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd()}`,
    );
}
