"""The MT5 terminal feed against a stand-in `MetaTrader5` module (the package exists only for
Windows): closed bars only, catch-up, broker time with DST, bad bars, terminal not running."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.adapters.store import CandleStore
from engine.errors import SourceUnavailable
from engine.live.feeds import FeedKey
from engine.live.mt5_terminal import Mt5TerminalFeed, broker_to_utc

KEY = FeedKey("mt5", "EURUSD", "15m")
STEP = pd.Timedelta(minutes=15)
ATHENS = "Europe/Athens"


def _bars(start: str, n: int, step: pd.Timedelta = STEP) -> pd.DataFrame:
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq=step, name="time")
    close = 1.08 + np.arange(n) * 1e-4
    return pd.DataFrame({"open": close - 5e-5, "high": close + 2e-4, "low": close - 2e-4,
                         "close": close, "volume": np.full(n, 7.0)}, index=index.as_unit("ns"))


class FakeTerminal:
    """What ITA calls of `MetaTrader5`, serving `bars` (UTC) as broker time in `zone` up to the
    test's `now`: the bar opened at or before `now` is the forming one."""

    TIMEFRAME_M1, TIMEFRAME_M5, TIMEFRAME_M15, TIMEFRAME_M30 = 1, 5, 15, 30
    TIMEFRAME_H1, TIMEFRAME_H4, TIMEFRAME_D1, TIMEFRAME_W1 = 60, 240, 1440, 10080

    def __init__(self, bars: pd.DataFrame, zone: str = ATHENS) -> None:
        self.bars, self.zone = bars, zone
        self.now = bars.index[0]
        self.running = True
        self.calls: list[tuple] = []

    def initialize(self) -> bool:
        self.calls.append(("initialize",))
        return self.running

    def shutdown(self) -> None:
        self.calls.append(("shutdown",))

    def last_error(self) -> tuple[int, str]:
        return (1, "Success") if self.running else (-10003, "IPC initialize failed, "
                                                             "MetaTrader 5 x64 not found")

    def symbol_info(self, symbol: str):
        return object() if symbol == "EURUSD" else None

    def copy_rates_from_pos(self, symbol: str, timeframe: int, pos: int, count: int):
        self.calls.append(("pos", symbol, timeframe, pos, count))
        if symbol != "EURUSD" or not self.running:
            return None
        visible = self.bars.loc[:self.now]
        visible = visible.iloc[max(0, len(visible) - pos - count):len(visible) - pos]
        local = visible.index.tz_convert(self.zone).tz_localize(None)
        rates = np.zeros(len(visible), dtype=[
            ("time", "i8"), ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"),
            ("tick_volume", "u8"), ("spread", "i4"), ("real_volume", "u8")])
        rates["time"] = local.as_unit("s").asi8
        for column in ("open", "high", "low", "close"):
            rates[column] = visible[column].to_numpy()
        rates["tick_volume"] = visible["volume"].to_numpy()
        return rates


def _feed(terminal: FakeTerminal, tmp_path: Path, **kwargs) -> Mt5TerminalFeed:
    kwargs.setdefault("warmup_bars", 10)
    return Mt5TerminalFeed([KEY], CandleStore(tmp_path), server_tz=terminal.zone,
                           module=terminal, **kwargs)


def _poll(feed: Mt5TerminalFeed, terminal: FakeTerminal, now) -> pd.DataFrame:
    terminal.now = pd.Timestamp(now, tz="UTC") if isinstance(now, str) else now
    return feed.poll(terminal.now).get(KEY, pd.DataFrame())


def test_only_closed_bars_each_once_and_stored(tmp_path: Path) -> None:
    bars = _bars("2024-03-04 07:00", 40)
    terminal = FakeTerminal(bars)
    feed = _feed(terminal, tmp_path)
    # 10:07: the 10:00 bar is forming (never passed on), the ten before it are closed
    first = _poll(feed, terminal, "2024-03-04 10:07")
    assert first.index[-1] == pd.Timestamp("2024-03-04 09:45", tz="UTC")
    pd.testing.assert_frame_equal(first, bars.iloc[2:12], check_freq=False)  # the warm-up
    # 10:15:01: the 10:00 bar closed by time, but the terminal has not started 10:15 yet
    terminal.bars = bars.loc[:pd.Timestamp("2024-03-04 10:00", tz="UTC")]
    assert _poll(feed, terminal, "2024-03-04 10:15:01").empty
    # once the terminal starts the next bar (or `settle` passes), it comes, once
    terminal.bars = bars
    newer = _poll(feed, terminal, "2024-03-04 10:15:02")
    assert list(newer.index) == [pd.Timestamp("2024-03-04 10:00", tz="UTC")]
    assert _poll(feed, terminal, "2024-03-04 10:20").empty
    stored = CandleStore(tmp_path).read("EURUSD", "15m", source="mt5")
    assert stored.index[-1] == pd.Timestamp("2024-03-04 10:00", tz="UTC") and len(stored) == 11
    health = feed.health(pd.Timestamp("2024-03-04 10:20", tz="UTC"))[KEY]
    assert health.error is None and health.behind_bars == 0 and not health.silent
    assert feed.next_due(pd.Timestamp("2024-03-04 10:20", tz="UTC")) == pd.Timestamp(
        "2024-03-04 10:30:01.5", tz="UTC")


def test_a_quiet_market_bar_passes_after_settle(tmp_path: Path) -> None:
    terminal = FakeTerminal(_bars("2024-03-04 08:00", 9))  # no bar after 10:00: no ticks
    feed = _feed(terminal, tmp_path, settle=5.0)
    _poll(feed, terminal, "2024-03-04 10:07")
    assert _poll(feed, terminal, "2024-03-04 10:15:04").empty
    late = _poll(feed, terminal, "2024-03-04 10:15:05")
    assert list(late.index) == [pd.Timestamp("2024-03-04 10:00", tz="UTC")]


def test_catch_up_after_a_gap_returns_every_missed_bar_in_order(tmp_path: Path) -> None:
    bars = _bars("2024-03-04 00:00", 200)
    terminal = FakeTerminal(bars)
    feed = _feed(terminal, tmp_path)
    _poll(feed, terminal, "2024-03-04 10:07")
    missed = _poll(feed, terminal, "2024-03-05 01:07")  # the PC slept 15 hours
    expected = bars[(bars.index >= pd.Timestamp("2024-03-04 10:00", tz="UTC"))
                    & (bars.index <= pd.Timestamp("2024-03-05 00:45", tz="UTC"))]
    pd.testing.assert_frame_equal(missed, expected, check_freq=False)
    # a restart resumes from the store: nothing twice, nothing lost
    again = _feed(terminal, tmp_path)
    assert _poll(again, terminal, "2024-03-05 01:10").empty
    assert list(_poll(again, terminal, "2024-03-05 01:20").index) == [
        pd.Timestamp("2024-03-05 01:00", tz="UTC")]


@pytest.mark.parametrize("step_minutes", [1, 5, 15])
def test_broker_time_is_utc_across_summer_time_ending(tmp_path: Path, step_minutes: int,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Athens, 2024-10-27: 04:00 summer time becomes 03:00 again (01:00 UTC); a market open
    on Sunday (crypto CFDs) has two bars at each wall-clock time of that hour."""
    step = pd.Timedelta(minutes=step_minutes)
    bars = _bars("2024-10-26 22:00", int(pd.Timedelta(hours=5) / step), step)
    terminal = FakeTerminal(bars)
    key = FeedKey("mt5", "EURUSD", f"{step_minutes}m")
    feed = Mt5TerminalFeed([key], CandleStore(tmp_path), server_tz=ATHENS, module=terminal,
                           warmup_bars=1)
    got = []
    with caplog.at_level(logging.WARNING, "ita.live.feeds"):
        for now in pd.date_range("2024-10-26 22:00:10", "2024-10-27 03:00:10", freq="7min",
                                 tz="UTC"):
            terminal.now = now
            got.append(feed.poll(now).get(key, pd.DataFrame()))
    received = pd.concat(got)
    assert received.index[-1] == terminal.now.floor(step) - step  # closed at the last poll
    expected = bars[(bars.index >= received.index[0]) & (bars.index <= received.index[-1])]
    assert received.index[0] < pd.Timestamp("2024-10-26 22:30", tz="UTC")
    pd.testing.assert_frame_equal(received, expected, check_freq=False)
    assert received.index.is_unique and caplog.records == []
    assert feed.health(terminal.now)[key].rejected == 0


def test_broker_to_utc_reads_the_repeated_hour_in_order() -> None:
    zone = pd.Timestamp("2024-10-27", tz=ATHENS).tzinfo
    wall = pd.DatetimeIndex(["2024-10-27 02:30", "2024-10-27 03:00", "2024-10-27 03:30",
                             "2024-10-27 03:00", "2024-10-27 03:30", "2024-10-27 04:00",
                             "2024-03-31 02:30", "2024-03-31 04:00"])
    utc = broker_to_utc(wall.as_unit("s").asi8, zone)
    assert [f"{t:%m-%d %H:%M}" for t in utc] == [
        "10-26 23:30", "10-27 00:00", "10-27 00:30", "10-27 01:00", "10-27 01:30",
        "10-27 02:00", "03-31 00:30", "03-31 01:00"]


def test_a_fixed_offset_server_zone(tmp_path: Path) -> None:
    bars = _bars("2024-03-04 08:00", 12)
    terminal = FakeTerminal(bars, zone="Etc/GMT-2")
    feed = Mt5TerminalFeed([KEY], CandleStore(tmp_path), server_tz="+02:00", module=terminal,
                           warmup_bars=4)
    got = _poll(feed, terminal, "2024-03-04 10:50")
    pd.testing.assert_frame_equal(got, bars.iloc[7:11], check_freq=False)  # 09:45-10:30


def test_bad_bars_are_rejected_with_one_log_line_each(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    bars = _bars("2024-03-04 08:00", 12)
    bars.iloc[5, bars.columns.get_loc("close")] = np.nan
    bars.iloc[6, bars.columns.get_loc("high")] = 0.5  # high below the low
    terminal = FakeTerminal(bars)
    feed = _feed(terminal, tmp_path)
    with caplog.at_level(logging.WARNING, "ita.live.feeds"):
        got = _poll(feed, terminal, "2024-03-04 10:50")
        _poll(feed, terminal, "2024-03-04 10:55")  # the same bad bars again: no new lines
    assert bars.index[5] not in got.index and bars.index[6] not in got.index
    assert len(got) == 8
    assert len(caplog.records) == 2 and "NaN" in caplog.records[0].getMessage()


def test_terminal_not_running_is_an_error_state_then_recovers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    terminal = FakeTerminal(_bars("2024-03-04 08:00", 12))
    terminal.running = False
    feed = _feed(terminal, tmp_path)
    with caplog.at_level(logging.INFO, "ita.live.feeds"):
        assert feed.poll(pd.Timestamp("2024-03-04 10:07", tz="UTC")) == {}
        assert feed.poll(pd.Timestamp("2024-03-04 10:08", tz="UTC")) == {}  # logged once
        error = feed.health(pd.Timestamp("2024-03-04 10:08", tz="UTC"))[KEY].error
        assert error.startswith("MetaTrader 5 terminal not reachable (IPC initialize failed")
        assert "code -10003" in error and "running and logged in" in error
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
        terminal.running = True
        assert len(_poll(feed, terminal, "2024-03-04 10:09")) == 8
    assert feed.health(pd.Timestamp("2024-03-04 10:09", tz="UTC"))[KEY].error is None
    assert "reachable again" in caplog.text


def test_lost_connection_is_retried_with_a_new_initialize(tmp_path: Path) -> None:
    terminal = FakeTerminal(_bars("2024-03-04 08:00", 20))
    feed = _feed(terminal, tmp_path)
    _poll(feed, terminal, "2024-03-04 10:07")
    terminal.running = False
    assert _poll(feed, terminal, "2024-03-04 10:16").empty
    assert "MT5 returned no bars" in feed.health()[KEY].error
    terminal.running = True
    assert list(_poll(feed, terminal, "2024-03-04 10:17").index) == [
        pd.Timestamp("2024-03-04 10:00", tz="UTC")]
    assert [c for c in terminal.calls if c[0] == "initialize"] == [("initialize",)] * 2


def test_unknown_symbol_and_wrong_server_zone_are_named(tmp_path: Path) -> None:
    terminal = FakeTerminal(_bars("2024-03-04 08:00", 12))
    other = FeedKey("mt5", "XAUUSD", "15m")
    feed = Mt5TerminalFeed([KEY, other], CandleStore(tmp_path), server_tz="UTC",
                           module=terminal, warmup_bars=4)  # the broker runs on Athens time
    terminal.now = pd.Timestamp("2024-03-04 10:50", tz="UTC")
    new = feed.poll(terminal.now)
    health = feed.health(terminal.now)
    assert "MT5 has no symbol 'XAUUSD' (is it in Market Watch?)" == health[other].error
    assert "opens 0 days 01:55:00 from now: is the server time zone (UTC) right" in health[
        KEY].error
    assert new == {}  # times two hours off: no bar of it is taken
    assert not CandleStore(tmp_path).path("mt5", "EURUSD", "15m").exists()


def test_the_feed_is_not_available_off_windows(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="exists only for Windows.*ITA_MT5_FOLDER"):
        Mt5TerminalFeed([KEY], CandleStore(tmp_path), server_tz=ATHENS)


def test_close_lets_go_of_the_terminal(tmp_path: Path) -> None:
    terminal = FakeTerminal(_bars("2024-03-04 08:00", 12))
    feed = _feed(terminal, tmp_path, background_writes=True)
    got = _poll(feed, terminal, "2024-03-04 10:50")
    feed.close()
    assert terminal.calls[-1] == ("shutdown",)
    assert len(CandleStore(tmp_path).read("EURUSD", "15m", source="mt5")) == len(got)
