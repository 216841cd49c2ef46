"""The journal: stable keys, tags, the store's files (round trip, atomic, one folder per
analyst), screenshots, filters and the P&L calendar."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from engine.adapters.journal import MAX_SCREENSHOT_BYTES, JournalStore, journal_dir
from engine.errors import ConfigurationError, DataError
from engine.journal import (
    TradeKey,
    calendar_month,
    entry_id,
    filter_trades,
    journal_frame,
    parse_tags,
    pnl_calendar,
)
from engine.settings import get_settings

KEY = TradeKey("sma-cross", 1, "BTC/USDT", "2023-03-01 14:05", 1)


def _image(kind: str = "PNG", size=(8, 6)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


@pytest.fixture()
def store(ita_home) -> JournalStore:
    return JournalStore.from_settings()


# --- keys and tags --------------------------------------------------------------------------

def test_entry_id_is_stable_safe_and_unique() -> None:
    same = TradeKey("sma-cross", "1", "BTC/USDT", pd.Timestamp("2023-03-01 14:05", tz="UTC"),
                    1.0)
    assert entry_id(same) == entry_id(KEY)  # naive times are UTC; types normalised
    assert entry_id(KEY).startswith("sma-cross-v1-BTCUSDT-20230301T140500Z-long-")
    look_alike = TradeKey("sma-cross", 1, "BTC-USDT", "2023-03-01 14:05", 1)
    assert entry_id(look_alike) != entry_id(KEY)
    short = TradeKey("sma-cross", 1, "BTC/USDT", "2023-03-01 14:05", -1)
    assert entry_id(short) != entry_id(KEY) and "-short-" in entry_id(short)
    local = TradeKey("sma-cross", 1, "BTC/USDT", pd.Timestamp("2023-03-01 16:05",
                                                               tz="Europe/Athens"), 1)
    assert entry_id(local) == entry_id(KEY)
    long_id = TradeKey("x" * 128, 1, "BTC/USDT", "2023-03-01", 1)
    assert len(entry_id(long_id)) <= 128


def test_tags_are_lower_case_words_and_anything_else_is_one_line() -> None:
    assert parse_tags("A+, news  News london-open") == ["a+", "news", "london-open"]
    assert parse_tags(["Late_Entry"]) == ["late_entry"]
    assert parse_tags("") == []
    with pytest.raises(DataError, match=r"^tags: 'news!' is not a tag"):
        parse_tags("good, news!")
    with pytest.raises(DataError, match="mistakes: '-x'"):
        parse_tags("-x", field="mistakes")


# --- the store ------------------------------------------------------------------------------

def test_entries_live_in_the_analysts_own_folder_and_round_trip(store, ita_home,
                                                               monkeypatch) -> None:
    monkeypatch.setenv("ITA_ANALYST", "maria")
    store = JournalStore.from_settings()
    assert store.root == ita_home / "shared_kb" / "analysts" / "maria" / "journal"
    saved = store.annotate(KEY, note="Waited for the retest.", tags="A+, london",
                           mistakes=["early-entry"], run_id="run-1")
    path = store.root / f"{entry_id(KEY)}.yaml"
    assert path.exists() and "Waited for the retest." in path.read_text()
    again = JournalStore.from_settings().get(entry_id(KEY))
    assert again == saved
    assert (again.tags, again.mistakes, again.run_id) == (["a+", "london"], ["early-entry"],
                                                          "run-1")
    other = TradeKey("sma-cross", 2, "BTC/USDT", "2023-03-02", -1)
    store.annotate(other, tags="b")
    assert set(store.entries()) == {entry_id(KEY), entry_id(other)}
    assert list(store.entries(setup_id="sma-cross", setup_version=2)) == [entry_id(other)]
    updated = store.annotate(KEY, tags="")  # None leaves the note; "" clears the tags
    assert (updated.note, updated.tags) == ("Waited for the retest.", [])
    assert store.annotate(KEY, note="", mistakes=[]) is None  # nothing left: no file
    assert not path.exists()
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".")] == []


def test_a_bad_analyst_name_is_a_configuration_error(ita_home, monkeypatch) -> None:
    monkeypatch.setenv("ITA_ANALYST", "../bob")
    with pytest.raises(ConfigurationError, match="analyst name"):
        journal_dir(get_settings())


def test_a_failed_write_keeps_the_old_entry_whole(store, monkeypatch) -> None:
    store.annotate(KEY, note="first")
    import engine._io

    def crash(path):
        raise OSError("disk full")

    monkeypatch.setattr(engine._io, "_fsync_file", crash)
    with pytest.raises(OSError, match="disk full"):
        store.annotate(KEY, note="second")
    monkeypatch.undo()
    assert store.get(entry_id(KEY)).note == "first"
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".")] == []


def test_a_hand_broken_entry_is_named_in_one_line(store) -> None:
    store.annotate(KEY, note="x")
    path = store.root / f"{entry_id(KEY)}.yaml"
    path.write_text(path.read_text().replace("tags: []", "tags: ['bad tag!']"))
    with pytest.raises(DataError, match=rf"{entry_id(KEY)}\.yaml: tags"):
        store.entries()


def test_screenshots_are_checked_and_stored_beside_the_entry(store) -> None:
    png, jpeg = _image("PNG"), _image("JPEG")
    first = store.attach(KEY, "chart.png", png)
    assert first.parent == store.root / entry_id(KEY) and first.suffix == ".png"
    assert first.read_bytes() == png
    assert store.attach(KEY, "same.png", png) == first  # the same image is one file
    second = store.attach(KEY, "chart.jpg", jpeg)
    entry = store.get(entry_id(KEY))
    assert entry.screenshots == [first.name, second.name] and second.suffix == ".jpg"
    assert store.screenshot(entry, first.name) == first
    with pytest.raises(DataError, match="'notes.txt' is not a PNG or JPEG image"):
        store.attach(KEY, "notes.txt", b"hello")
    with pytest.raises(DataError, match="'fake.png' is a damaged image"):
        store.attach(KEY, "fake.png", png[:8] + b"\0" * 40)
    with pytest.raises(DataError, match="'big.png' is 5.2 MB: the limit is 5 MB"):
        store.attach(KEY, "big.png", png + b"\0" * MAX_SCREENSHOT_BYTES)
    assert store.get(entry_id(KEY)).screenshots == [first.name, second.name]
    assert store.delete(entry_id(KEY)) and not (store.root / entry_id(KEY)).exists()


def test_notes_survive_re_running_the_same_version(ita_home) -> None:
    from engine.backtest.run import run_backtest
    from engine.demo import run_demo

    run_demo()
    first = run_backtest("sma-cross", start="2023-03-01", end="2023-03-04")
    trades = first.result.trades
    store = JournalStore.from_settings()
    row = trades.iloc[2]
    store.annotate(TradeKey(row.setup_id, row.setup_version, row.symbol, row.signal_time,
                            row.direction), note="textbook", tags="a+", run_id=first.run_id)
    again = run_backtest("sma-cross", start="2023-03-01", end="2023-03-04")
    assert again.run_id != first.run_id
    frame = journal_frame(again.result.trades, store.entries(setup_id="sma-cross",
                                                             setup_version=1))
    assert frame["note"].tolist().count("textbook") == 1
    assert frame.iloc[2]["note"] == "textbook" and frame.iloc[2]["tags"] == ["a+"]


# --- filters and the calendar ---------------------------------------------------------------

def _trades() -> pd.DataFrame:
    times = pd.to_datetime(["2023-03-01 09:00", "2023-03-01 15:00", "2023-03-02 02:00",
                            "2023-03-06 10:00"], utc=True)
    return pd.DataFrame({
        "setup_id": "s", "setup_version": 1, "symbol": "BTC/USDT", "signal_time": times,
        "direction": [1, -1, 1, 1], "exit_time": times + pd.Timedelta(hours=1),
        "r_multiple": [2.0, -1.0, 1.5, -0.5], "pnl": [200.0, -100.0, 150.0, -50.0],
        "session": ["london", "new_york", "asia", "london"],
        "weekday": ["Wednesday", "Wednesday", "Thursday", "Monday"]})


def test_filters_by_tag_mistake_session_weekday_and_side(store) -> None:
    trades = _trades()
    keys = [TradeKey("s", 1, "BTC/USDT", t, d) for t, d in zip(trades["signal_time"],
                                                                 trades["direction"],
                                                                 strict=True)]
    store.annotate(keys[0], tags="a+, news")
    store.annotate(keys[3], tags="a+", mistakes="fomo")
    frame = journal_frame(trades, store.entries())
    assert frame["tags"].tolist() == [["a+", "news"], [], [], ["a+"]]
    pick = lambda **kw: filter_trades(frame, **kw).index.tolist()  # noqa: E731
    assert pick(tags=["a+"]) == [0, 3]
    assert pick(tags=["a+", "news"]) == [0]
    assert pick(mistakes=["fomo"]) == [3]
    assert pick(sessions=["london"]) == [0, 3]
    assert pick(weekdays=["Wednesday"], directions=[-1]) == [1]
    assert pick() == [0, 1, 2, 3]


def test_pnl_calendar_books_each_trade_on_its_closing_day() -> None:
    trades = _trades()
    trades.loc[2, "exit_time"] = pd.Timestamp("2023-03-03 00:30", tz="UTC")  # held overnight
    daily = pnl_calendar(trades)
    assert daily.to_dict("index") == {
        pd.Timestamp("2023-03-01").date(): {"trades": 2, "r": 1.0, "pnl": 100.0},
        pd.Timestamp("2023-03-03").date(): {"trades": 1, "r": 1.5, "pnl": 150.0},
        pd.Timestamp("2023-03-06").date(): {"trades": 1, "r": -0.5, "pnl": -50.0}}
    grid = calendar_month(daily, 2023, 3)
    assert list(grid.columns)[:2] == ["Monday", "Tuesday"]
    assert grid.index[0] == "week of 27 Feb" and len(grid) == 5
    assert grid.loc["week of 27 Feb", "Wednesday"] == "1  +1.00 R  +100.00"
    assert grid.loc["week of 27 Feb", "Thursday"] == "2"
    assert grid.loc["week of 27 Feb", "Monday"] == ""
    assert grid.loc["week of 06 Mar", "Monday"] == "6  -0.50 R  -50.00"
    assert pnl_calendar(trades.iloc[:0]).empty


def test_pnl_calendar_books_days_in_the_traders_zone() -> None:
    from zoneinfo import ZoneInfo

    trades = _trades()
    trades.loc[2, "exit_time"] = pd.Timestamp("2023-03-02 23:30", tz="UTC")  # 00:30 in Berlin
    days = pnl_calendar(trades, ZoneInfo("Europe/Berlin")).index
    assert pd.Timestamp("2023-03-03").date() in days
    assert pd.Timestamp("2023-03-02").date() not in days
