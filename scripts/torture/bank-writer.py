"""The bank torture's app: an invariant-keeping writer for a WAL-mode SQLite database.

N accounts with ~10 KB rows start at 1000 each; transaction n moves one unit from one random account
to another (rewriting both rows' pads, so each transfer dirties pages all over the file) and sets
meta.seq = n. Before committing transaction n the app appends "n from to" to a journal outside the
data directory (flushed after the commit), so a checker can rebuild the exact balances after any
n and tell whether a restored database is a state the app really committed.
Traffic comes in bursts (no pause) and calm stretches (a pause after each transfer), chosen by a
seeded generator; the app checkpoints by itself too (wal_autocheckpoint, sometimes PASSIVE/TRUNCATE).
Usage: bank-writer.py <db> <journal> <page_size> <accounts> <seed>. Prints `ready`, and on SIGTERM
the last committed n.
"""
import random
import signal
import sqlite3
import sys
import time

path, journal_path, page_size, accounts, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
db = sqlite3.connect(path, isolation_level=None)
db.execute(f'PRAGMA page_size={page_size}')
db.execute('PRAGMA journal_mode=WAL')
db.execute('PRAGMA synchronous=NORMAL')
db.execute('CREATE TABLE IF NOT EXISTS acct (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL, pad BLOB)')
db.execute('CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, seq INTEGER)')
db.execute('BEGIN')
for i in range(1, accounts + 1):
    db.execute('INSERT INTO acct VALUES (?, 1000, randomblob(10000))', (i,))
db.execute("INSERT INTO meta VALUES ('seq', 0)")
db.execute('COMMIT')
journal = open(journal_path, 'a', buffering=1)
print('ready', flush=True)
seq = 0
burst_until = 0.0
pause = 0.002
while not stop:
    now = time.monotonic()
    if now >= burst_until:
        # Next stretch: a burst (no pause, up to a few seconds) or a calm one.
        burst = rng.random() < 0.4
        burst_until = now + rng.uniform(0.3, 3.0)
        pause = 0.0 if burst else rng.choice([0.001, 0.002, 0.005, 0.02])
    a, b = rng.sample(range(1, accounts + 1), 2)
    seq += 1
    journal.write(f'{seq} {a} {b}\n')
    db.execute('BEGIN IMMEDIATE')
    db.execute('UPDATE acct SET bal = bal - 1, pad = randomblob(10000) WHERE id = ?', (a,))
    db.execute('UPDATE acct SET bal = bal + 1, pad = randomblob(10000) WHERE id = ?', (b,))
    db.execute("UPDATE meta SET seq = ? WHERE k = 'seq'", (seq,))
    db.execute('COMMIT')
    r = rng.random()
    if r < 0.0005:
        db.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchall()
    elif r < 0.002:
        db.execute('PRAGMA wal_checkpoint(PASSIVE)').fetchall()
    if pause:
        time.sleep(pause)
journal.close()
db.close()
print(seq, flush=True)
