"""The signal journal: each signal once, its outbox states, decisions, reads and exports."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from engine.errors import DataError
from engine.live.journal import SignalJournal, journal_path, short_key
from tests.live._signals import make_signal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def journal(ita_home: Path):
    with SignalJournal(journal_path(ita_home)) as j:
        yield j


def test_journal_lives_in_local_state(ita_home: Path) -> None:
    assert journal_path(ita_home) == ita_home / ".ita" / "live.sqlite"


def test_a_signal_is_recorded_once_with_every_field(journal: SignalJournal) -> None:
    signal = make_signal(target=math.nan, reasons='[{"kind": "fvg"}]')
    assert journal.record(signal, score=0.8, channels=["telegram"]) is True
    assert journal.record(signal, score=0.1, channels=["telegram", "mail"]) is False
    stored = journal.get(signal.signal_id)
    assert stored.known_at == signal.known_at and stored.entry == 100.0
    assert math.isnan(stored.target) and stored.reasons == '[{"kind": "fvg"}]'
    assert (stored.timeframe, stored.source, stored.setup_version) == ("15m", "binanceus", 3)
    assert stored.score == 0.8 and stored.late is False
    assert stored.deliveries == {"telegram": "pending"}  # the duplicate queued nothing more
    assert len(journal.pending("telegram")) == 1 and journal.pending("mail") == []


def test_pending_is_oldest_bar_first_then_best_score(journal: SignalJournal) -> None:
    later = make_signal(15)
    weak, strong = make_signal(0, symbol="ETH/USDT"), make_signal(0, symbol="SOL/USDT")
    journal.record(later, score=0.9, channels=["telegram"])
    journal.record(weak, score=0.2, channels=["telegram"])
    journal.record(strong, score=0.7, channels=["telegram"])
    order = [item.signal_id for item in journal.pending("telegram")]
    assert order == [strong.signal_id, weak.signal_id, later.signal_id]


def test_outbox_states(journal: SignalJournal) -> None:
    a, b, c = make_signal(0), make_signal(15), make_signal(30)
    for s in (a, b, c):
        journal.record(s, channels=["telegram"])
    journal.mark_sending(a.signal_id, "telegram")
    journal.mark_chat_sent(a.signal_id, "telegram", "42", 7)
    item = journal.pending("telegram")[0]
    assert item.unconfirmed and item.message_ids == {"42": 7} and item.attempts == 1
    journal.mark_sent(a.signal_id, "telegram", {"42": 7, "43": 9})
    journal.mark_sending(b.signal_id, "telegram")
    journal.mark_retry(b.signal_id, "telegram", "Telegram unreachable")
    journal.mark_failed(c.signal_id, "telegram", "refused")
    [b_item] = journal.pending("telegram")
    assert (b_item.signal_id, b_item.state, b_item.attempts, b_item.last_error) == (
        b.signal_id, "pending", 1, "Telegram unreachable")
    sent = journal.deliveries(a.signal_id)["telegram"]
    assert sent["state"] == "sent" and sent["message_ids"] == {"42": 7, "43": 9}
    assert journal.signal_for_message(43, 9) == a.signal_id
    assert journal.signal_for_message(43, 10) is None
    assert journal.deliveries(c.signal_id)["telegram"]["state"] == "failed"


def test_decisions(journal: SignalJournal) -> None:
    signal = make_signal()
    journal.record(signal)
    journal.set_decision(signal.signal_id, "taken", "clean sweep")
    journal.set_decision(signal.signal_id, "SKIPPED")
    stored = journal.get(signal.signal_id)
    assert (stored.decision, stored.decision_reason) == ("Skipped", "clean sweep")
    with pytest.raises(DataError, match="did you mean Taken"):
        journal.set_decision(signal.signal_id, "Takn")
    with pytest.raises(DataError, match="no signal 'nope'"):
        journal.set_decision("nope", "Taken")
    assert journal.signal_for_key(short_key(signal.signal_id)) == signal.signal_id
    assert len(short_key(signal.signal_id)) == 16


def test_today_and_recent_in_the_traders_zone(tmp_path: Path) -> None:
    now = datetime(2024, 3, 4, 23, 30, tzinfo=UTC)  # already 5 March in Tokyo
    with SignalJournal(tmp_path / "live.sqlite", clock=lambda: now) as journal:
        for minute in (-60 * 24, 0, 60 * 14 + 30):  # 3 Mar 09:00, 4 Mar 09:00, 4 Mar 23:30
            journal.record(make_signal(minute))
        assert [s.known_at.day for s in journal.today()] == [4, 4]
        assert [s.known_at.hour for s in journal.today(tz="Asia/Tokyo")] == [23]
        assert [s.known_at.day for s in journal.recent(2)] == [4, 4]
        assert journal.recent(2)[0].known_at.hour == 23


def test_export_parquet_reads_in_duckdb(journal: SignalJournal, tmp_path: Path) -> None:
    for minute in (0, 15):
        journal.record(make_signal(minute), late=minute == 15, channels=["telegram"])
    journal.mark_sent(make_signal(0).signal_id, "telegram", {"42": 1})
    path = journal.export_parquet(tmp_path / "signals.parquet")
    rows = duckdb.sql(f"SELECT known_at, late, delivery_telegram FROM '{path}' ORDER BY 1"
                      ).fetchall()
    assert [(r[1], r[2]) for r in rows] == [(False, "sent"), (True, "pending")]
    frame = pd.read_parquet(path)
    assert str(frame["known_at"].dt.tz) == "UTC"


def test_pause_flag_persists(journal: SignalJournal) -> None:
    assert journal.paused is False
    journal.set_paused(True)
    with SignalJournal(journal.path) as again:
        assert again.paused is True


_RECORD_MANY = """
import sys
from engine.live.journal import SignalJournal
from tests.live._signals import make_signal
journal = SignalJournal(sys.argv[1])
new = sum(journal.record(make_signal(15 * i), channels=["telegram"]) for i in range(150))
print(new)
"""


def test_two_processes_recording_the_same_signals_record_each_once(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", _RECORD_MANY, str(path)], cwd=ROOT,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(outputs) == 150
    with SignalJournal(path) as journal:
        assert len(journal.pending("telegram")) == 150
        assert len(journal.frame()) == 150
