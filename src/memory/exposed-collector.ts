import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's `gc()`: a full collection, or a young-generation one with `{ type: 'minor' }`. */
export type Collector = (options?: { type?: 'major' | 'minor' }) => void;

let collector: Collector | null | undefined;

/** V8's collector, exposed on first call; undefined when the runtime refuses (V8's own policy then stays). */
export function exposedCollector(): Collector | undefined {
  if (collector === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collector = runInNewContext('gc') as Collector;
    } catch {
      collector = null;
    }
  }
  return collector ?? undefined;
}
