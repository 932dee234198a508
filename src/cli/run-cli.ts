import { EXIT_CODES } from '../exit-codes.js';
import { collectBufferChurn } from '../memory/buffer-churn.js';
import { startHeapGovernor } from './heap-governor.js';
import { main } from './main.js';

const BULK_COMMANDS = new Set(['run', 'backup', 'restore']);

/** Runs persistd as the current process: wires stdio, env and signals, then exits with the command's code. */
export function runCli(): void {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts += 1;
    if (interrupts > 1) process.exit(EXIT_CODES.interrupted);
    controller.abort(new Error('interrupted'));
  };
  const isRun = process.argv[2] === 'run';
  // Commands that move many files (3 ms to set up: not for --version, status or doctor).
  if (BULK_COMMANDS.has(process.argv[2] ?? '')) {
    startHeapGovernor();
    collectBufferChurn();
  }
  if (!isRun) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  main(process.argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
    signals: process,
  })
    .then((code) => {
      // Exit explicitly: idle keep-alive sockets or a watcher must not keep a finished command alive.
      process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
    })
    .catch((err: unknown) => {
      process.stderr.write(`persistd: unexpected error: ${String(err)}\n`);
      process.exitCode = EXIT_CODES.unexpected;
    });
}
