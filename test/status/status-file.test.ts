import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { RunStatusTracker } from '../../src/engine/run-status.js';
import { StatusFileWriter, isProcessAlive, readStatusFile, statusFilePath } from '../../src/engine/status-file.js';
import { PersistdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { clearRegisteredSecrets, registerSecret } from '../../src/log/redact.js';

const config = {
  databases: [{ name: 'app.db', path: '/data/app.db' }],
  directories: [],
  files: [],
  snapshotSchedule: '5m',
} as unknown as Config;
const dirs: string[] = [];

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'persistd-status-file-'));
  dirs.push(dir);
  return path.join(dir, 'state');
}

afterEach(async () => {
  clearRegisteredSecrets();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('status file', () => {
  it('is written at start and on phase changes, read back whole, and marked stopped at the end', async () => {
    const dir = await stateDir();
    const tracker = new RunStatusTracker(config);
    const writer = new StatusFileWriter({ stateDir: dir, snapshot: () => tracker.snapshot(), logger: silentLogger(), intervalMs: 60_000 });
    tracker.onChange(() => void writer.write());
    writer.start();
    await writer.write();
    expect((await readStatusFile(dir))?.phase).toBe('restoring');
    tracker.markRestored();
    tracker.setPhase('running');
    await writer.write();
    const running = await readStatusFile(dir);
    expect(running).toMatchObject({ format: 1, pid: process.pid, phase: 'running', healthy: true });
    expect(running?.targets.map((t) => t.name)).toEqual(['app.db']);
    tracker.setPhase('stopped');
    await writer.stop();
    expect((await readStatusFile(dir))?.phase).toBe('stopped');
    // Only the status file is left: no temp files.
    expect(await readdir(dir)).toEqual(['status.json']);
  });

  it('never contains a secret, even inside an error message', async () => {
    const dir = await stateDir();
    registerSecret('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    const tracker = new RunStatusTracker(config);
    tracker.setError('put failed: signature mismatch for wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY with AKIAIOSFODNN7EXAMPLE');
    const writer = new StatusFileWriter({ stateDir: dir, snapshot: () => tracker.snapshot(), logger: silentLogger() });
    await writer.write();
    const text = await readFile(statusFilePath(dir), 'utf8');
    expect(text).toContain('put failed: signature mismatch for ***');
    expect(text).not.toContain('wJalrXUtnFEMI');
    expect(text).not.toContain('AKIAIOSFODNN7EXAMPLE');
  });

  it('reads as undefined when absent and fails clearly when damaged', async () => {
    const dir = await stateDir();
    expect(await readStatusFile(dir)).toBeUndefined();
    const writer = new StatusFileWriter({ stateDir: dir, snapshot: () => new RunStatusTracker(config).snapshot(), logger: silentLogger() });
    await writer.write();
    await writeFile(statusFilePath(dir), '{"format": 1, "pid": ');
    await expect(readStatusFile(dir)).rejects.toThrow(PersistdError);
  });

  it('tells a live pid from a dead one', async () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((r) => child.on('close', r));
    expect(isProcessAlive(pid)).toBe(false);
    expect(isProcessAlive(0)).toBe(false);
  });
});
