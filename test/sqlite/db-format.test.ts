import { describe, expect, it } from 'vitest';
import {
  assertDatabaseName,
  generationTime,
  newGenerationId,
  nextSnapshotSeq,
  parseSnapshotKey,
  parseTimeId,
  snapshotDataKey,
  snapshotManifestKey,
  timeId,
} from '../../src/format/db-keys.js';
import { parseManifest } from '../../src/format/db-manifest.js';

describe('db keys', () => {
  it('encode times so that they sort lexicographically', () => {
    const a = new Date('2026-11-22T12:00:00.000Z');
    const b = new Date('2026-11-22T12:00:00.001Z');
    expect(timeId(a)).toBe('20261122T120000000Z');
    expect(timeId(a) < timeId(b)).toBe(true);
    expect(parseTimeId(timeId(b))).toEqual(b);
    expect(parseTimeId('20261322T120000000Z')).toBeUndefined();
    const generation = newGenerationId(a);
    expect(generation).toMatch(/^20261122T120000000Z-[0-9a-f]{8}$/);
    expect(generationTime(generation)).toEqual(a);
  });

  it('give strictly increasing seqs even when the clock stands still or goes back', () => {
    const now = new Date('2026-11-22T12:00:00.000Z');
    const first = nextSnapshotSeq(now);
    const second = nextSnapshotSeq(now, first);
    const third = nextSnapshotSeq(new Date(now.getTime() - 5000), second);
    expect(first < second && second < third).toBe(true);
  });

  it('parse back what they build, and nothing else', () => {
    const g = newGenerationId();
    const seq = timeId(new Date());
    expect(parseSnapshotKey(snapshotDataKey('app.db', g, seq))).toEqual({
      name: 'app.db',
      generation: g,
      seq,
      kind: 'data',
      point: 'full',
    });
    expect(parseSnapshotKey(snapshotManifestKey('app.db', g, seq))).toMatchObject({ kind: 'manifest' });
    expect(parseSnapshotKey(`db/app/gen/${g}/wal/0000.wal.gz`)).toBeUndefined();
    expect(parseSnapshotKey(`db/app/gen/not-a-gen/snap/${seq}.json`)).toBeUndefined();
    expect(() => assertDatabaseName('../x')).toThrow(/cannot be used as a database name/);
    expect(() => assertDatabaseName('app.db')).not.toThrow();
  });
});

describe('parseManifest', () => {
  const where = { key: 'db/app/gen/g/snap/s.json', name: 'app', generation: 'g', seq: 's' };
  it('rejects junk and foreign manifests with a clear message', () => {
    expect(() => parseManifest('{', where)).toThrow(/not valid JSON/);
    expect(() => parseManifest(JSON.stringify({ format: 3, createdBy: 'persistd 9.0.0' }), where)).toThrow(/format version 3/);
    expect(() =>
      parseManifest(
        JSON.stringify({ format: 1, kind: 'sqlite-snapshot', database: 'other', generation: 'g', seq: 's', data: {}, db: {} }),
        where,
      ),
    ).toThrow(/names another database/);
  });
});
