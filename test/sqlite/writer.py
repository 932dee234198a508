"""A stand-in app: commits numbered rows into a SQLite database until stopped or until a count.

Each transaction inserts row n into `t` and sets `meta.n = n`, so a consistent copy always has
count(t) == max(t.id) == meta.n: rows 1..N with no gap and no half transaction.
Usage: writer.py <db> <journal_mode> <max_rows|0> <pad_bytes>. Prints `ready` once set up, and the
last committed n on exit (SIGTERM or max_rows reached).
"""
import signal
import sqlite3
import sys

path, mode, max_rows, pad = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
db = sqlite3.connect(path, isolation_level=None, timeout=30)
db.execute(f'PRAGMA journal_mode={mode}')
db.execute('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, pad BLOB)')
db.execute('CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, n INTEGER)')
db.execute("INSERT OR IGNORE INTO meta VALUES ('n', 0)")
n = db.execute("SELECT n FROM meta WHERE k = 'n'").fetchone()[0]
print('ready', flush=True)
while not stop and (max_rows == 0 or n < max_rows):
    n += 1
    db.execute('BEGIN IMMEDIATE')
    db.execute('INSERT INTO t VALUES (?, randomblob(?))', (n, pad))
    db.execute("UPDATE meta SET n = ? WHERE k = 'n'", (n,))
    db.execute('COMMIT')
db.close()
print(n, flush=True)
