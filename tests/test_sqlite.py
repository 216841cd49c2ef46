"""The shared SQLite plumbing under the signal journal and the paper ledger (engine/_sqlite.py)."""

import sqlite3
import threading

import pytest

from engine._sqlite import SqliteFile
from engine.live.journal import SignalJournal
from engine.paper.ledger import Ledger

SCHEMA = "CREATE TABLE IF NOT EXISTS t (v INTEGER PRIMARY KEY);"


def test_a_new_file_is_in_wal_mode_with_its_schema(tmp_path):
    with SqliteFile(tmp_path / "deep" / "x.sqlite", schema=SCHEMA) as store:
        assert store._read("PRAGMA journal_mode")[0][0] == "wal"
        assert store._read("PRAGMA synchronous")[0][0] == 2  # FULL
        assert store._read("SELECT name FROM sqlite_master WHERE type = 'table'")[0][0] == "t"


def test_a_write_that_raises_leaves_nothing(tmp_path):
    with SqliteFile(tmp_path / "x.sqlite", schema=SCHEMA) as store:
        with store._write() as db:
            db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError), store._write() as db:
            db.execute("INSERT INTO t VALUES (2)")
            db.execute("INSERT INTO t VALUES (1)")  # the second row fails: the first goes too
        assert [row[0] for row in store._read("SELECT v FROM t")] == [1]


def test_another_connection_sees_only_committed_writes(tmp_path):
    path = tmp_path / "x.sqlite"
    with SqliteFile(path, schema=SCHEMA) as store, SqliteFile(path, schema=SCHEMA) as other:
        with store._write() as db:
            db.execute("INSERT INTO t VALUES (1)")
            assert other._read("SELECT COUNT(*) FROM t")[0][0] == 0  # WAL: a reader never waits
        assert other._read("SELECT COUNT(*) FROM t")[0][0] == 1


def test_threads_share_one_connection(tmp_path):
    with SqliteFile(tmp_path / "x.sqlite", schema=SCHEMA) as store:
        def insert(start):
            for v in range(start, start + 50):
                with store._write() as db:
                    db.execute("INSERT INTO t VALUES (?)", [v])
        threads = [threading.Thread(target=insert, args=(n * 100,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store._read("SELECT COUNT(*) FROM t")[0][0] == 200


def test_the_journal_and_the_ledger_share_it(tmp_path):
    with (SignalJournal(tmp_path / "live.sqlite") as journal,
          Ledger(tmp_path / "p.sqlite") as ledger):
        assert isinstance(journal, SqliteFile) and isinstance(ledger, SqliteFile)
        assert journal._read("PRAGMA journal_mode")[0][0] == "wal"
        assert ledger._read("PRAGMA journal_mode")[0][0] == "wal"
