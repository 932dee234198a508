/** A Python writer that commits one small row per transaction at a steady rate (both benchmarks' workload). */

/** argv: <db path> <rate per second>. Prints "ready", then on SIGTERM one line per commit: "<start unix ms> <end unix ms> <latency ms>". */
export const STEADY_WRITER_PY = `
import signal, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
db.execute('PRAGMA journal_mode=WAL'); db.execute('PRAGMA synchronous=NORMAL')
db.execute('CREATE TABLE IF NOT EXISTS w (id INTEGER PRIMARY KEY, v TEXT)')
stop = False
def term(*_):
    global stop; stop = True
signal.signal(signal.SIGTERM, term)
interval = 1.0 / float(sys.argv[2]); out = []
print('ready', flush=True)
nxt = time.time()
while not stop:
    t0 = time.time()
    db.execute('BEGIN IMMEDIATE'); db.execute('INSERT INTO w (v) VALUES (hex(randomblob(50)))'); db.execute('COMMIT')
    t1 = time.time(); out.append('%.3f %.3f %.3f' % (t0 * 1000, t1 * 1000, (t1 - t0) * 1000))
    nxt += interval; time.sleep(max(0, nxt - time.time()))
sys.stdout.write('\\n'.join(out) + '\\n')
`;

/** One commit of the steady writer. */
export interface SteadyCommit {
  startMs: number;
  endMs: number;
  latencyMs: number;
}

/** Parses the writer's output (after its "ready" line). */
export function parseSteadyCommits(out: string): SteadyCommit[] {
  return out
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => {
      const [startMs, endMs, latencyMs] = line.split(' ').map(Number) as [number, number, number];
      return { startMs, endMs, latencyMs };
    });
}
