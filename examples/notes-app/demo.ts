// `npm run demo`: the notes service under `persistd run` with a local file:// replica. Write notes and
// an upload, lose the container (kill it and delete its data), start again, and see the data back.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

const root = path.resolve('demo-container');
const env = {
  ...process.env,
  PERSISTD_URL: `file://${path.resolve('demo-replica')}`,
  PERSISTD_DBS: path.join(root, 'data', 'notes.db'),
  PERSISTD_DIRS: path.join(root, 'uploads'),
  PERSISTD_STATE_DIR: path.join(root, '.persistd'),
  PERSISTD_LOG_LEVEL: process.env.PERSISTD_LOG_LEVEL ?? 'info',
  NOTES_DATA_DIR: path.join(root, 'data'),
  NOTES_UPLOAD_DIR: path.join(root, 'uploads'),
};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startContainer(port: number): Promise<ChildProcess> {
  mkdirSync(path.join(root, 'data'), { recursive: true });
  console.log(`\n$ persistd run -- node examples/notes-app/server.mjs   (PERSISTD_URL=${env.PERSISTD_URL})`);
  const child = spawn(process.execPath, ['bin/persistd.js', 'run', '--', process.execPath, 'examples/notes-app/server.mjs'], {
    env: { ...env, PORT: String(port) },
    stdio: 'inherit',
  });
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(`http://127.0.0.1:${port}/notes`).then(
        () => true,
        () => false,
      )
    )
      return child;
    if (child.exitCode !== null) throw new Error(`persistd exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the notes service did not come up');
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

rmSync(root, { recursive: true, force: true });
rmSync(path.resolve('demo-replica'), { recursive: true, force: true });
const port = await freePort();
const first = await startContainer(port);
await fetch(`http://127.0.0.1:${port}/notes`, { method: 'POST', body: 'remember the milk' });
await fetch(`http://127.0.0.1:${port}/notes`, { method: 'POST', body: 'persistd keeps this note' });
await fetch(`http://127.0.0.1:${port}/uploads/avatar.txt`, { method: 'PUT', body: 'pretend this is a picture' });
const before = await (await fetch(`http://127.0.0.1:${port}/notes`)).json();
console.log(`\ndemo: notes written: ${JSON.stringify(before)}`);
await stop(first);

console.log('\ndemo: losing the container (deleting its data, uploads and persistd state)');
rmSync(root, { recursive: true, force: true });

const second = await startContainer(port);
const after = await (await fetch(`http://127.0.0.1:${port}/notes`)).json();
const avatar = await (await fetch(`http://127.0.0.1:${port}/uploads/avatar.txt`)).text();
console.log(`\ndemo: notes after a new container: ${JSON.stringify(after)}`);
console.log(`demo: uploads/avatar.txt after a new container: ${JSON.stringify(avatar)}`);
await stop(second);
const ok = JSON.stringify(after) === JSON.stringify(before) && avatar === 'pretend this is a picture';
console.log(ok ? '\ndemo: everything survived the loss of the container.' : '\ndemo: data was lost!');
process.exit(ok ? 0 : 1);
