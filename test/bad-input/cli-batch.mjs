// Runs many persistd invocations in one process through the built CLI's entry point (dist/cli/main.js, the
// `main()` that bin/persistd.js runs), each with its own argv, environment, working directory and captured
// output; prints the results as JSON. One Node start-up for a whole table instead of one per row.
// Input on stdin: [{ "argv": [...], "env": {...}, "cwd": "..." }, ...]; output: [{ "code", "stdout", "stderr" }, ...].
import { Writable } from 'node:stream';

const { main } = await import(new URL('../../dist/cli/main.js', import.meta.url).href);

function capture() {
  const sink = { text: '' };
  sink.stream = new Writable({
    write(chunk, _encoding, done) {
      sink.text += chunk.toString();
      done();
    },
  });
  return sink;
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const job of JSON.parse(input)) {
  const stdout = capture();
  const stderr = capture();
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...job.env };
  const signals = { on: () => undefined, off: () => undefined };
  let code;
  try {
    code = await main(['node', 'persistd', ...job.argv], {
      stdout: stdout.stream,
      stderr: stderr.stream,
      env,
      cwd: job.cwd,
      signal: new AbortController().signal,
      signals,
    });
  } catch (err) {
    // main() never throws; if it does, that is a finding the test reports.
    code = -1;
    stderr.text += `main() threw: ${err instanceof Error ? err.stack : String(err)}`;
  }
  results.push({ code, stdout: stdout.text, stderr: stderr.text });
}
process.stdout.write(JSON.stringify(results), () => process.exit(0));
