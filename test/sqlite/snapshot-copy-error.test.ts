import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WalConnection } from '../../src/sqlite/wal/wal-connection.js';
import { makeScratch, type Scratch } from './sqlite-fixtures.js';
import { openApp } from './wal/wal-helpers.js';

let s: Scratch;
beforeEach(async () => {
  s = await makeScratch('copy-error');
});
afterEach(() => s.cleanup());

describe('a snapshot copy that cannot be written', () => {
  it('names the copy in the state directory, not the database, and says what to check', async () => {
    const path = join(s.dataDir, 'app.db');
    openApp(path).close();
    const conn = WalConnection.open(path);
    try {
      conn.pin();
      const dest = join(s.stateDir, 'tmp', 'gone', 'snapshot.db');
      const failure = conn.backup(dest, 1 << 20);
      await expect(failure).rejects.toThrow(`cannot copy ${path} to ${dest} for a snapshot`);
      await expect(failure).rejects.toMatchObject({
        path: dest,
        hint: expect.stringContaining(`state directory ${join(s.stateDir, 'tmp')}`),
      });
    } finally {
      conn.close();
    }
  });
});
