"""The WAL stress's app: commits numbered transactions into a WAL-mode SQLite database until SIGTERM.

Transaction n inserts row n into `t` (a pad whose bytes are derived from n, often larger than half a
page so that each row sits on a leaf page of its own that no later transaction rewrites), row n into
`u` (the pad's length), and sets `meta.n = n`. A consistent copy therefore has t.id = u.id = 1..meta.n,
every pad matching its id and u's length: a lost or torn transaction shows as a gap or a mismatch.
Sometimes the app runs `PRAGMA wal_checkpoint(TRUNCATE)` (or PASSIVE/RESTART) itself, and it pauses
for a millisecond after about half of them (so a round's database stays small). Usage: wal-writer.py <db> <seed> <synchronous> <checkpoint_probability>.
Prints `ready` once set up and the last committed n on exit.
"""
import random
import signal
import sqlite3
import sys
import time

path, seed, sync, checkpoint_p = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
rng = random.Random(seed)
stop = False


def on_term(*_):
    global stop
    stop = True


def pad(n, length):
    unit = b'%010d' % n
    return (unit * (length // len(unit) + 1))[:length]


signal.signal(signal.SIGTERM, on_term)
db = sqlite3.connect(path, isolation_level=None, timeout=30)
db.execute('PRAGMA journal_mode=wal')
db.execute(f'PRAGMA synchronous={sync}')
db.execute('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)')
db.execute('CREATE TABLE IF NOT EXISTS u (id INTEGER PRIMARY KEY, len INTEGER NOT NULL)')
db.execute('CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, n INTEGER)')
db.execute("INSERT OR IGNORE INTO meta VALUES ('n', 0)")
n = db.execute("SELECT n FROM meta WHERE k = 'n'").fetchone()[0]
print('ready', flush=True)
while not stop:
    n += 1
    length = rng.choice([2500, 2500, 1200, 180, 40, 40, 40, 5000])
    db.execute('BEGIN IMMEDIATE')
    db.execute('INSERT INTO t VALUES (?, ?)', (n, pad(n, length)))
    db.execute('INSERT INTO u VALUES (?, ?)', (n, length))
    db.execute("UPDATE meta SET n = ? WHERE k = 'n'", (n,))
    db.execute('COMMIT')
    r = rng.random()
    if r < checkpoint_p:
        # Short busy timeout: persistd's pin makes a TRUNCATE wait until persistd lets it through.
        db.execute('PRAGMA busy_timeout=3000')
        try:
            db.execute('PRAGMA wal_checkpoint(%s)' % rng.choice(['TRUNCATE', 'TRUNCATE', 'RESTART', 'PASSIVE'])).fetchone()
        except sqlite3.OperationalError:
            pass
        db.execute('PRAGMA busy_timeout=30000')
    elif r < checkpoint_p + 0.02:
        time.sleep(rng.random() * 0.01)
    elif r < 0.5:
        time.sleep(0.001)
db.close()
print(n, flush=True)
