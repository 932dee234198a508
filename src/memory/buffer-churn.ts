import { exposedCollector, type Collector } from './exposed-collector.js';

/** Bytes of dropped buffers between two young-generation collections. */
const CHURN_BYTES = 4 << 20;

let collect: Collector | undefined;
let churned = 0;

/**
 * Turns `noteBufferChurn` on for this process (the commands that move data: backup, restore, run),
 * with V8's own collector unless another is given.
 */
export function collectBufferChurn(collector: Collector | undefined = exposedCollector()): void {
  collect = collector;
  churned = 0;
}

/**
 * Notes that a pipeline has let go of `bytes` of buffers that lived briefly (a socket's reads, the
 * copies of a frame handed to an upload). V8 frees a buffer's memory only when it collects the small
 * object that holds it, and its own policy waits until some 64 MiB of them are garbage: a
 * young-generation collection (under a millisecond) every 4 MiB keeps a restore or a snapshot near
 * the memory it really holds (measured for a 239 MiB database: restore 127 MiB peak instead of 141,
 * with the snapshot's reused frame buffers backup 128 MiB instead of 156). Does nothing until
 * `collectBufferChurn`.
 */
export function noteBufferChurn(bytes: number): void {
  if (collect === undefined) return;
  churned += bytes;
  if (churned < CHURN_BYTES) return;
  churned = 0;
  collect({ type: 'minor' });
}
