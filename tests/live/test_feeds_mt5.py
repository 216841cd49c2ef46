"""The MT5 watched folder: files rewritten the way the terminal (mt5/ITAExport.mq5) does,
partial writes included, broker time across daylight-saving changes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.adapters.importers import read_candles_file
from engine.adapters.store import CandleStore
from engine.live.feeds import FeedKey, Mt5FolderFeed

EURUSD = FeedKey("mt5", "EURUSD", "1m")
HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


def _text(bars: pd.DataFrame, zone: str) -> str:
    local = bars.index.tz_convert(zone).tz_localize(None)
    lines = [f"{t:%Y.%m.%d}\t{t:%H:%M:%S}\t{r.open:.2f}\t{r.high:.2f}\t{r.low:.2f}\t"
             f"{r.close:.2f}\t{int(r.volume)}\t0\t12\n"
             for t, r in zip(local, bars.itertuples(), strict=True)]
    return HEADER + "".join(lines)


def _write_atomic(path: Path, text: str) -> None:
    """What the EA does: write a temporary file, then move it over the old one."""
    temp = path.with_suffix(".tmp")
    temp.write_text(text)
    os.replace(temp, path)


@pytest.fixture()
def bars(demo_candles) -> pd.DataFrame:
    frame = demo_candles.iloc[:300].copy().round(2)
    frame["volume"] = np.arange(1, 301, dtype=np.float64)
    return frame


def _feed(tmp_path, zone="Etc/GMT-2", keys=(EURUSD,)) -> tuple[Mt5FolderFeed, Path]:
    folder = tmp_path / "mt5"
    folder.mkdir(exist_ok=True)
    return Mt5FolderFeed(folder, zone, CandleStore(tmp_path / "candles"), list(keys)), folder


def test_closed_bars_in_utc_the_forming_last_row_waits(tmp_path, bars) -> None:
    feed, folder = _feed(tmp_path)
    path = folder / "EURUSD_1m.csv"
    _write_atomic(path, _text(bars.iloc[:101], "Etc/GMT-2"))  # row 100 is forming
    new = feed.poll(bars.index[100] + pd.Timedelta(seconds=2))[EURUSD]
    assert list(new.index) == list(bars.index[:100])  # UTC, two hours before broker time
    np.testing.assert_allclose(new.to_numpy(), bars.iloc[:100].to_numpy())
    assert feed.poll(bars.index[100] + pd.Timedelta(seconds=30)) == {}  # nothing changed
    _write_atomic(path, _text(bars.iloc[1:102], "Etc/GMT-2"))  # the latest N bars again
    new = feed.poll(bars.index[101] + pd.Timedelta(seconds=1))[EURUSD]
    assert list(new.index) == [bars.index[100]]
    stored = CandleStore(tmp_path / "candles").read("EURUSD", "1m", source="mt5")
    assert len(stored) == 101 and stored.index[-1] == bars.index[100]


def test_a_last_row_closed_by_time_is_taken(tmp_path, bars) -> None:
    """Friday's last bar: the market closed, no next bar comes, the row is closed by time."""
    feed, folder = _feed(tmp_path)
    _write_atomic(folder / "EURUSD_1m.csv", _text(bars.iloc[:50], "Etc/GMT-2"))
    new = feed.poll(bars.index[49] + pd.Timedelta(minutes=5))[EURUSD]
    assert new.index[-1] == bars.index[49]


@pytest.mark.parametrize("cut", ["mid_line", "empty", "header_only_part"])
def test_a_file_caught_mid_write_is_read_when_it_changes_again(tmp_path, bars, cut) -> None:
    feed, folder = _feed(tmp_path)
    path = folder / "EURUSD_1m.csv"
    full = _text(bars.iloc[:101], "Etc/GMT-2")
    row_50 = full.splitlines(keepends=True)[51]
    in_volume = full.index(row_50) + row_50.index("\t0\t12")  # cut inside the volume cell
    partial = {"mid_line": full[:in_volume - 1], "empty": "",
               "header_only_part": HEADER[:20]}[cut]
    assert not partial.endswith("\n")
    path.write_text(partial)  # the terminal writing in place, caught half way
    now = bars.index[100] + pd.Timedelta(seconds=2)
    assert feed.poll(now) == {}
    assert feed.health(now)[EURUSD].error  # shown, not raised
    assert not CandleStore(tmp_path / "candles").path("mt5", "EURUSD", "1m").exists()
    assert feed.poll(now) == {}  # unchanged: not read again
    path.write_text(full)  # the write completes
    new = feed.poll(now + pd.Timedelta(seconds=1))[EURUSD]
    assert list(new.index) == list(bars.index[:100])
    assert feed.health(now)[EURUSD].error is None


@pytest.mark.parametrize("start", ["2023-10-29 00:00", "2023-03-26 00:00"],
                         ids=["autumn_back", "spring_forward"])
def test_broker_time_across_a_dst_change(tmp_path, bars, start) -> None:
    """Athens time: on 29 Oct 2023 03:00-03:59 happens twice, on 26 Mar 03:00-03:59 never."""
    moved = bars.iloc[:181].copy()
    moved.index = pd.date_range(start, periods=181, freq="1min", tz="UTC", name="time")
    feed, folder = _feed(tmp_path, zone="Europe/Athens")
    text = _text(moved, "Europe/Athens")
    if start.startswith("2023-10"):
        assert text.count("\t03:30:00\t") == 2
    else:
        assert "\t03:30:00\t" not in text
    _write_atomic(folder / "EURUSD_1m.csv", text)
    new = feed.poll(moved.index[180] + pd.Timedelta(seconds=2))[EURUSD]
    assert list(new.index) == list(moved.index[:180])
    # the same file imports to the same bars
    path = folder / "EURUSD_1m.csv"
    imported = read_candles_file(path, format="mt5", tz="Europe/Athens")
    assert list(imported.index[:180]) == list(new.index)


def test_bad_rows_are_rejected_with_one_line_each(tmp_path, bars, caplog) -> None:
    feed, folder = _feed(tmp_path)
    lines = _text(bars.iloc[:21], "Etc/GMT-2").splitlines(keepends=True)
    lines[5], lines[6] = lines[6], lines[5]  # rows 4 and 5 swapped: row 4 comes late
    cells = lines[10].split("\t")  # bar 9: its open is not a number
    lines[10] = "\t".join([cells[0], cells[1], "nan", *cells[3:]])
    _write_atomic(folder / "EURUSD_1m.csv", "".join(lines))
    with caplog.at_level(logging.WARNING, logger="ita.live.feeds"):
        new = feed.poll(bars.index[20] + pd.Timedelta(seconds=2))[EURUSD]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "out of order" in messages[0] and "NaN" in messages[1]
    assert bars.index[4] not in new.index and bars.index[9] not in new.index
    assert len(new) == 18 and new.index.is_monotonic_increasing


def test_the_observer_wakes_the_monitor_on_a_rewrite(tmp_path, bars) -> None:
    feed, folder = _feed(tmp_path)
    with feed:
        assert not feed.wait(0.2)
        _write_atomic(folder / "EURUSD_1m.csv", _text(bars.iloc[:11], "Etc/GMT-2"))
        assert feed.wait(5.0)
        new = feed.poll(bars.index[10] + pd.Timedelta(seconds=1))
    assert len(new[EURUSD]) == 10
