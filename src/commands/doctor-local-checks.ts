import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { runCheck, type DoctorCheck } from './doctor-check.js';

/** Checks the local side: the state directory is writable, protected paths exist and are usable, databases are SQLite. */
export async function checkLocalPaths(config: Config): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  checks.push(
    await runCheck(`state dir ${config.stateDir}`, async () => {
      await mkdir(config.stateDir, { recursive: true });
      const probe = path.join(config.stateDir, `.doctor-${randomBytes(4).toString('hex')}`);
      await writeFile(probe, 'probe');
      await rm(probe);
      return { status: 'ok', detail: 'writable' };
    }),
  );
  for (const db of config.databases) {
    checks.push(await runCheck(`database ${db.name}`, async () => describeDatabase(db.path)));
  }
  for (const dir of config.directories) {
    checks.push(
      await runCheck(`directory ${dir.name}`, async () => {
        const stats = await stat(dir.path).catch(() => undefined);
        if (!stats) return { status: 'warn', detail: `${dir.path} does not exist yet; restore creates it` };
        await access(dir.path, constants.R_OK | constants.W_OK | constants.X_OK);
        return { status: 'ok', detail: `${dir.path} exists and is writable` };
      }),
    );
  }
  for (const file of config.files) {
    checks.push(
      await runCheck(`file ${file.name}`, async () => {
        await access(path.dirname(file.path), constants.W_OK);
        const stats = await stat(file.path).catch(() => undefined);
        return {
          status: 'ok',
          detail: stats ? `${file.path} exists (${stats.size} bytes)` : `${file.path} does not exist yet; its directory is writable`,
        };
      }),
    );
  }
  return checks;
}

// Bytes 18 and 19 of the SQLite header are 2 for a database in WAL mode and 1 for the rollback journal.
async function describeDatabase(dbPath: string): Promise<Omit<DoctorCheck, 'name'>> {
  await access(path.dirname(dbPath), constants.W_OK);
  const handle = await open(dbPath, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return { status: 'warn', detail: `${dbPath} does not exist yet; the app creates it and persistd picks it up` };
  try {
    const header = Buffer.alloc(100);
    const { bytesRead } = await handle.read(header, 0, 100, 0);
    if (bytesRead === 0) return { status: 'ok', detail: `${dbPath} is empty (a new database)` };
    if (bytesRead < 100 || header.toString('latin1', 0, 16) !== 'SQLite format 3\0') {
      return { status: 'fail', detail: `${dbPath} is not a SQLite database`, hint: 'check the --db path' };
    }
    const mode = header[18] === 2 ? 'WAL' : 'rollback journal';
    const pageSize = header.readUInt16BE(16) === 1 ? 65_536 : header.readUInt16BE(16);
    return { status: 'ok', detail: `SQLite, journal mode ${mode}, page size ${pageSize}` };
  } finally {
    await handle.close();
  }
}
