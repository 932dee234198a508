"""The crash torture's app, run under `persistd run`: commits numbered transactions to SQLite and
writes numbered files into an upload directory, and journals both (fsynced) outside the data dir.

Transaction i inserts row i into `t` (round and a pad derived from i and the round) and row i into
`u` (the pad's length), and sets `meta.n = i`: a restored copy must hold t.id = u.id = 1..meta.n.
File j of a round is written to `.fNN.bin.tmp-r<round>-<j>`, fsynced, closed, and renamed to
`fNN.bin` (NN = j mod 12), its bytes derived from (round, j). Journal lines (after the fact):
  S <ms> <pid> <n> <integrity> <consistent>   started; what the restored database held
  T <ms> <i>                                  transaction i committed
  F <ms> <name> <j>                           file j closed and renamed to <name>
Usage: torture-app.py <db> <uploads> <journal> <round> <seed>.
"""
import os
import random
import sqlite3
import sys
import time

db_path, uploads, journal_path, rnd, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
journal = os.open(journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def log(line):
    os.write(journal, (line + '\n').encode())
    os.fsync(journal)


def now():
    return int(time.time() * 1000)


def pad(i, r, length):
    unit = b'%d.%d;' % (r, i)
    return (unit * (length // len(unit) + 1))[:length]


def file_bytes(r, j):
    head = b'round %d file %d\n' % (r, j)
    unit = b'<%d:%d>' % (r, j)
    length = 64 + (j * 7919) % 30000
    return head + (unit * (length // len(unit) + 1))[:length]


os.makedirs(os.path.dirname(db_path), exist_ok=True)
os.makedirs(uploads, exist_ok=True)
db = sqlite3.connect(db_path, isolation_level=None, timeout=30)
db.execute('PRAGMA journal_mode=wal')
db.execute('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, round INTEGER NOT NULL, pad BLOB NOT NULL)')
db.execute('CREATE TABLE IF NOT EXISTS u (id INTEGER PRIMARY KEY, len INTEGER NOT NULL)')
db.execute('CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, n INTEGER)')
db.execute("INSERT OR IGNORE INTO meta VALUES ('n', 0)")
integrity = db.execute('PRAGMA integrity_check').fetchone()[0].replace(' ', '_')
n = db.execute("SELECT n FROM meta WHERE k = 'n'").fetchone()[0]
count, top = db.execute('SELECT count(*), coalesce(max(id), 0) FROM t').fetchone()
ucount = db.execute('SELECT count(*) FROM u').fetchone()[0]
consistent = 1 if count == top == n == ucount else 0
log('S %d %d %d %s %d' % (now(), os.getpid(), n, integrity, consistent))

j = 0
i = n
while True:
    i += 1
    length = rng.choice([40, 180, 1200, 2500, 5000])
    db.execute('BEGIN IMMEDIATE')
    db.execute('INSERT INTO t VALUES (?, ?, ?)', (i, rnd, pad(i, rnd, length)))
    db.execute('INSERT INTO u VALUES (?, ?)', (i, length))
    db.execute("UPDATE meta SET n = ? WHERE k = 'n'", (i,))
    db.execute('COMMIT')
    log('T %d %d' % (now(), i))
    if rng.random() < 0.15:
        j += 1
        name = 'f%02d.bin' % (j % 12)
        tmp = os.path.join(uploads, '.%s.tmp-r%d-%d' % (name, rnd, j))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, file_bytes(rnd, j))
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(uploads, name))
        log('F %d %s %d' % (now(), name, j))
    time.sleep(rng.random() * 0.01)
