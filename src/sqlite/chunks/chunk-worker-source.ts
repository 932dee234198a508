/**
 * The program of a chunk worker thread (CommonJS, evaluated with `new Worker(source, { eval: true })`
 * so that it runs the same from src/ under the test runner and from dist/). It loads zstd's native
 * binding from `workerData.zstdBinding` and answers two kinds of task, one at a time:
 *
 * - `decode`: decompress one chunk's zstd frame into its buffer, check its length and sha256 against
 *   the index, write it at its offset of `fd`; the input buffer goes back to the caller for reuse;
 * - `encode`: sha256 and zstd-compress one chunk into the output buffer it is given (at least
 *   `compressBound` of the chunk); both buffers go back.
 *
 * Failures are answered as `{ id, error: { kind, message, code } }`, never thrown: `integrity` for a
 * chunk that does not decode or verify, `write` for a local write error, `internal` for the rest.
 */
export const CHUNK_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { writeSync } = require('node:fs');
const zstd = require(workerData.zstdBinding);
const dctx = new zstd.DCtx();
const cctx = new zstd.CCtx();
let out = new Uint8Array(0);
function scratch(size) {
  if (out.length < size) out = new Uint8Array(size);
  return out;
}
function decode(task) {
  const input = new Uint8Array(task.input, 0, task.length);
  let declared;
  try {
    declared = zstd.getFrameContentSize(input);
  } catch (err) {
    return { kind: 'integrity', message: 'it is not a zstd frame (' + err.message + ')' };
  }
  if (declared !== task.rawSize) {
    return { kind: 'integrity', message: 'its frame declares ' + declared + ' bytes, the index says ' + task.rawSize };
  }
  const raw = scratch(task.rawSize).subarray(0, task.rawSize);
  let n;
  try {
    n = dctx.decompress(raw, input);
  } catch (err) {
    return { kind: 'integrity', message: 'it is not a complete zstd frame (' + err.message + ')' };
  }
  if (n !== task.rawSize) return { kind: 'integrity', message: 'it holds ' + n + ' bytes, the index says ' + task.rawSize };
  const sha256 = createHash('sha256').update(raw).digest('hex');
  if (sha256 !== task.sha256) return { kind: 'integrity', message: 'its sha256 is ' + sha256 + ', the index says ' + task.sha256 };
  try {
    for (let done = 0; done < n; ) done += writeSync(task.fd, raw, done, n - done, task.position + done);
  } catch (err) {
    return { kind: 'write', message: err.message, code: err.code };
  }
  return undefined;
}
parentPort.on('message', (task) => {
  try {
    if (task.op === 'decode') {
      const error = decode(task);
      parentPort.postMessage({ id: task.id, error, input: task.input }, [task.input]);
    } else {
      const input = new Uint8Array(task.input, 0, task.length);
      const sha256 = createHash('sha256').update(input).digest('hex');
      // Into the caller's buffer: memory is allocated by one thread only, which keeps the process small.
      const length = cctx.compress(new Uint8Array(task.output), input, task.level);
      parentPort.postMessage({ id: task.id, sha256, output: task.output, length, input: task.input }, [task.output, task.input]);
    }
  } catch (err) {
    parentPort.postMessage({ id: task.id, error: { kind: 'internal', message: String(err && err.message), code: err && err.code }, input: task.input }, [task.input]);
  }
});
`;
