"""Live outcomes on hand-checked bars: known at the close of the exit bar and never earlier,
unfilled once a limit order's last working bar closed, a trade still open stays unknown, each
outcome written once (engine/live/outcomes.py, SignalJournal.set_outcome)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.adapters.store import CandleStore
from engine.cli import app
from engine.errors import DataError
from engine.live.feeds import FeedKey
from engine.live.journal import SignalJournal, journal_path
from engine.live.outcomes import resolve_outcomes
from engine.setups.store import SetupStore
from tests.live._signals import make_signal
from tests.live.test_monitor import SMA

T0 = pd.Timestamp("2024-01-01 00:00", tz="UTC")
HOUR = pd.Timedelta(hours=1)
FAR = T0 + pd.Timedelta(days=30)
SYMBOL, SOURCE = "TEST/USDT", "test"


def _bars(n: int = 12) -> pd.DataFrame:
    """Flat 1h bars at 100 (high 100.5, low 99.5); bar 6 spikes to a high of 103."""
    index = pd.date_range(T0, periods=n, freq="1h", name="time")
    bars = pd.DataFrame({"open": 100.0, "high": 100.5, "low": 99.5, "close": 100.0,
                         "volume": 1.0}, index=index)
    if n > 6:
        bars.iloc[6, bars.columns.get_loc("high")] = 103.0
    return bars


def _signal(bar: int = 2, **changes):
    """A long market signal at the close of 1h bar `bar`: entry 100, stop 99, target 102."""
    fields = {"symbol": SYMBOL, "source": SOURCE, "timeframe": "1h", "setup_id": "hand",
              "setup_version": 1, **changes}
    return make_signal(known_at=T0 + bar * HOUR, **fields)


@pytest.fixture()
def home(ita_home):
    text = SMA.format(id="hand", fast=3, slow=8).replace("BTC/USDT", SYMBOL).replace(
        "timeframe: 1m", "timeframe: 1h")
    SetupStore(ita_home / "setups").save(text)
    return ita_home


@pytest.fixture()
def stores(home):
    return CandleStore(home / "data" / "candles"), SetupStore(home / "setups")


@pytest.fixture()
def journal(home):
    with SignalJournal(journal_path(home)) as opened:
        yield opened


def _store(stores, bars: pd.DataFrame) -> None:
    stores[0].upsert(bars, source=SOURCE, symbol=SYMBOL, timeframe="1h")


def _resolve(journal, stores, now=FAR, **options):
    return resolve_outcomes(journal, *stores, now=now, **options)


def test_an_outcome_is_known_at_the_close_of_its_exit_bar_never_earlier(journal,
                                                                        stores) -> None:
    signal = _signal()
    journal.record(signal)
    _store(stores, _bars(6))  # cut one bar before the exit (bar 6 takes the target)
    report = _resolve(journal, stores)
    assert (report.checked, report.total_recorded, report.still_open) == (1, 0, 1)
    assert journal.get(signal.signal_id).outcome is None
    _store(stores, _bars(12))
    _resolve(journal, stores, now=T0 + 6 * HOUR + pd.Timedelta(minutes=59))  # bar 6 forming
    assert journal.get(signal.signal_id).outcome is None
    report = _resolve(journal, stores, now=T0 + 7 * HOUR)  # bar 6 has just closed
    assert report.recorded == {"target": 1} and report.still_open == 0
    got = journal.get(signal.signal_id)
    assert (got.outcome, got.outcome_r, got.outcome_at) == ("target", 2.0, T0 + 6 * HOUR)
    again = _resolve(journal, stores)
    assert (again.checked, again.total_recorded) == (0, 0)


def test_stop_time_and_a_trade_still_open(journal, stores) -> None:
    short = _signal(direction=-1, stop=100.8, target=97.0)  # bar 6's high takes its stop
    timed = _signal(3, stop=90.0, target=float("nan"), time_exit_bars=2)
    still = _signal(4, stop=90.0, target=110.0)  # nothing touches 90 or 110
    for signal in (short, timed, still):
        journal.record(signal)
    _store(stores, _bars(12))
    report = _resolve(journal, stores)
    assert report.recorded == {"stop": 1, "time": 1} and report.still_open == 1
    stopped = journal.get(short.signal_id)
    assert (stopped.outcome, stopped.outcome_r, stopped.outcome_at) == ("stop", -1.0,
                                                                        T0 + 6 * HOUR)
    assert journal.get(timed.signal_id).outcome == "time"
    assert journal.get(timed.signal_id).outcome_at == T0 + 5 * HOUR  # held bars 4 and 5
    assert journal.get(still.signal_id).outcome is None  # never recorded as "end"


def test_an_expired_limit_is_unfilled_once_its_last_working_bar_closed(journal,
                                                                       stores) -> None:
    signal = _signal(entry_type="limit", entry=98.0, stop=97.0, target=101.0, expiry_bars=3)
    journal.record(signal)
    _store(stores, _bars(5))  # works on bars 3, 4, 5: bar 5 is not there yet
    _resolve(journal, stores)
    assert journal.get(signal.signal_id).outcome is None
    _store(stores, _bars(6))
    report = _resolve(journal, stores)
    assert report.recorded == {"unfilled": 1}
    got = journal.get(signal.signal_id)
    assert (got.outcome, got.outcome_r, got.outcome_at) == ("unfilled", None, T0 + 5 * HOUR)


def test_closed_bars_the_store_does_not_hold_yet_count(journal, stores) -> None:
    signal = _signal()
    journal.record(signal)
    _store(stores, _bars(5))
    recent = {FeedKey(SOURCE, SYMBOL, "1h"): _bars(8).iloc[3:]}  # the monitor's window
    report = _resolve(journal, stores, recent=recent)
    assert report.recorded == {"target": 1}


def test_a_series_that_cannot_be_read_is_reported_and_the_others_go_on(journal,
                                                                        stores) -> None:
    lost = _signal(source="nowhere")
    gone = _signal(3, setup_version=7)  # no such setup version
    found = _signal()
    for signal in (lost, gone, found):
        journal.record(signal)
    _store(stores, _bars(12))
    report = _resolve(journal, stores)
    assert report.recorded == {"target": 1}
    assert len(report.problems) == 2
    assert any(line.startswith("nowhere:TEST/USDT 1h") for line in report.problems)
    assert any("hand" in line for line in report.problems if line.startswith("test:"))
    assert journal.get(lost.signal_id).outcome is None


def test_set_outcome_writes_once_and_never_replaces(journal) -> None:
    signal = _signal()
    journal.record(signal)
    at = T0 + 6 * HOUR
    assert journal.set_outcome(signal.signal_id, "Target", 2.0, at) is True
    assert journal.set_outcome(signal.signal_id, "target", 2.0, at) is False  # idempotent
    with pytest.raises(DataError, match="never replaced"):
        journal.set_outcome(signal.signal_id, "stop", -1.0, at)
    with pytest.raises(DataError, match="never replaced"):
        journal.set_outcome(signal.signal_id, "target", 1.5, at)
    got = journal.get(signal.signal_id)
    assert (got.outcome, got.outcome_r, got.outcome_at) == ("target", 2.0, at)
    assert journal.unresolved() == []
    with pytest.raises(DataError, match="did you mean target"):
        journal.set_outcome(signal.signal_id, "targte", 2.0, at)
    with pytest.raises(DataError, match="no signal"):
        journal.set_outcome("nope", "stop", -1.0, at)
    other = _signal(3)
    journal.record(other)
    assert journal.set_outcome(other.signal_id, "unfilled", math.nan, at) is True
    assert journal.get(other.signal_id).outcome_r is None
    frame = journal.frame()
    assert frame["outcome_at"].notna().all()


def test_unresolved_since(journal) -> None:
    early, late = _signal(1), _signal(5)
    journal.record(early)
    journal.record(late)
    assert [s.signal_id for s in journal.unresolved()] == [early.signal_id, late.signal_id]
    assert [s.signal_id for s in journal.unresolved(since=T0 + 3 * HOUR)] == [late.signal_id]


def test_cli_catches_up(home, stores) -> None:
    with SignalJournal(journal_path(home)) as journal:
        journal.record(_signal())
        journal.record(_signal(direction=-1, stop=100.8, target=97.0))
        journal.record(_signal(1, stop=90.0, target=110.0))
    _store(stores, _bars(12))
    runner = CliRunner()
    result = runner.invoke(app, ["live", "outcomes", "--since", "2024-01-01 02:00"])
    assert result.exit_code == 0, result.output
    assert "2 signal(s) without an outcome: 2 recorded (1 stop, 1 target), 0 still open" in \
        result.output
    result = runner.invoke(app, ["live", "outcomes"])
    assert "1 signal(s) without an outcome: 0 recorded, 1 still open" in result.output
    result = runner.invoke(app, ["live", "outcomes", "--since", "soon"])
    assert result.exit_code != 0 and "not a date" in result.output


def test_only_the_series_that_closed_a_bar(journal, stores) -> None:
    signal = _signal()
    journal.record(signal)
    _store(stores, _bars(12))
    other = FeedKey(SOURCE, "OTHER/USDT", "1h")
    report = _resolve(journal, stores, only=[other])
    assert (report.checked, report.total_recorded) == (0, 0)
    assert journal.get(signal.signal_id).outcome is None
    report = _resolve(journal, stores, only=[other, FeedKey(SOURCE, SYMBOL, "1h")])
    assert report.recorded == {"target": 1}


def test_a_window_that_covers_the_signal_needs_no_store(journal, stores) -> None:
    signal = _signal(source="fresh")  # nothing of this feed is stored yet
    journal.record(signal)
    window = _bars(12).iloc[1:]
    report = _resolve(journal, stores, now=T0 + 7 * HOUR,
                      recent={FeedKey("fresh", SYMBOL, "1h"): window})
    assert report.problems == () and report.recorded == {"target": 1}
    assert journal.get(signal.signal_id).outcome_at == T0 + 6 * HOUR


def test_a_kept_resolver_reads_the_store_once_and_follows_the_window(journal, stores,
                                                                     monkeypatch) -> None:
    from engine.live.outcomes import OutcomeResolver

    signal = _signal(0)
    journal.record(signal)
    _store(stores, _bars(12))
    reads = []
    original = CandleStore.read
    monkeypatch.setattr(CandleStore, "read",
                        lambda self, *a, **k: (a[1] == "1h" and reads.append(a)) or original(
                            self, *a, **k))  # the series' own reads (not its 1m bars)
    resolver = OutcomeResolver(journal, *stores)
    key = FeedKey(SOURCE, SYMBOL, "1h")
    bars = _bars(12)
    for close in range(3, 7):  # bars 3..5 closed: the window starts after the signal's bar
        report = resolver.resolve(now=T0 + close * HOUR, recent={key: bars.iloc[1:close]},
                                  only=[key])
        assert report.total_recorded == 0
    assert len(reads) == 1  # then only the window's new bars
    report = resolver.resolve(now=T0 + 7 * HOUR, recent={key: bars.iloc[2:7]}, only=[key])
    assert report.recorded == {"target": 1} and len(reads) == 1
    got = journal.get(signal.signal_id)
    assert (got.outcome_r, got.outcome_at) == (2.0, T0 + 6 * HOUR)
    # a window that does not join the remembered bars: read again
    journal.record(_signal(1, stop=90.0, target=110.0))
    resolver.resolve(now=T0 + 8 * HOUR, recent={key: bars.iloc[2:8]}, only=[key])
    assert len(reads) == 1
    report = resolver.resolve(now=T0 + 12 * HOUR, recent={key: bars.iloc[10:12]}, only=[key])
    assert len(reads) == 2 and report.still_open == 1


def test_a_bar_touching_stop_and_target_is_settled_by_its_1m_bars(journal, stores) -> None:
    signal = _signal()
    journal.record(signal)
    bars = _bars(12)
    bars.iloc[6, bars.columns.get_loc("low")] = 98.5  # bar 6 touches the stop (99) too
    _store(stores, bars)
    minutes = pd.DataFrame({"open": 100.0, "high": 100.2, "low": 99.8, "close": 100.0,
                            "volume": 1.0},
                           index=pd.date_range(T0 + 6 * HOUR, periods=60, freq="1min",
                                               name="time"))
    minutes.iloc[5, minutes.columns.get_loc("high")] = 103.0  # the target first ...
    minutes.iloc[40, minutes.columns.get_loc("low")] = 98.5  # ... the stop later
    stores[0].upsert(minutes, source=SOURCE, symbol=SYMBOL, timeframe="1m")
    _resolve(journal, stores)
    got = journal.get(signal.signal_id)
    assert (got.outcome, got.outcome_r) == ("target", 2.0)  # without 1m bars: stop first
