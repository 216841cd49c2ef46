"""The store under concurrent writers and hostile names: an upsert's read-merge-write holds a
lock, so two processes never lose each other's bars; sources and symbols never leave their
folder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.adapters.store import CandleStore
from engine.errors import DataError
from tests.conftest import ROOT

BARS_PER_WRITER = 40


def _start(function: str, *args: str) -> subprocess.Popen:
    """Run `function(*args)` of this module in a fresh interpreter (a real second writer).

    A subprocess rather than multiprocessing's spawn: spawn re-imports the parent's __main__,
    which an earlier AppTest in the same pytest process may have replaced by a page script."""
    code = (f"import sys; from tests.data.test_store_writers import {function}; "
            f"{function}(*sys.argv[1:])")
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT)


def _wait_for(flag: str) -> None:
    deadline = time.monotonic() + 30
    while not Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def _bars(minutes: np.ndarray) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.Timestamp("2024-01-01", tz="UTC")
                             + pd.to_timedelta(minutes, unit="min"), name="time").as_unit("ns")
    price = 100.0 + minutes.astype(np.float64)
    return pd.DataFrame({"open": price, "high": price + 1, "low": price - 1, "close": price,
                         "volume": 1.0}, index=index)


def _writer(root: str, parity: str, start: str) -> None:
    """Upsert one bar at a time: even minutes in one process, odd ones in the other."""
    store = CandleStore(Path(root))
    _wait_for(start)
    for k in range(BARS_PER_WRITER):
        store.upsert(_bars(np.array([2 * k + int(parity)])), source="x", symbol="BTC/USDT",
                     timeframe="1m")


def test_two_processes_upserting_one_series_lose_no_bars(tmp_path) -> None:
    start = tmp_path / "start"
    writers = [_start("_writer", str(tmp_path / "store"), str(parity), str(start))
               for parity in (0, 1)]
    start.touch()
    assert [w.wait(120) for w in writers] == [0, 0]
    tmp_path = tmp_path / "store"
    stored = CandleStore(tmp_path).read("BTC/USDT", "1m", source="x")
    assert len(stored) == 2 * BARS_PER_WRITER
    pd.testing.assert_frame_equal(stored, _bars(np.arange(2 * BARS_PER_WRITER)),
                                  check_freq=False)


@pytest.mark.parametrize("source,symbol,message", [
    ("..", "BTC/USDT", "source name '..' is not allowed"),
    ("a/b", "BTC/USDT", "source name 'a/b' is not allowed"),
    ("", "BTC/USDT", "source name must be a non-empty name"),
    ("CON", "BTC/USDT", "reserved device name"),
    ("bin\x00ance", "BTC/USDT", "is not allowed"),
    ("binance", "..", "symbol '..' is not allowed"),
    ("binance", "../../etc", "symbol '../../etc' is not allowed"),
    ("binance", "EUR\x00USD", "is not allowed"),
    ("binance", "NUL", "reserved device name"),
    ("binance", "", "symbol must be a non-empty text"),
])
def test_names_that_would_leave_the_store_are_refused(tmp_path, source, symbol,
                                                      message) -> None:
    store = CandleStore(tmp_path / "candles")
    with pytest.raises(DataError, match=message.replace(".", r"\.")) as error:
        store.upsert(_bars(np.arange(3)), source=source, symbol=symbol, timeframe="1m")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "candles").exists() or not any(
        p.is_file() for p in (tmp_path / "candles").rglob("*"))
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "candles"])


def test_symbols_keep_their_percent_encoded_file_names(tmp_path) -> None:
    """A series stored by an earlier version (same layout) still reads."""
    store = CandleStore(tmp_path)
    old_file = tmp_path / "binance" / "BTC%2FUSDT" / "1m.parquet"
    assert store.path("binance", "BTC/USDT", "1m") == old_file
    store.upsert(_bars(np.arange(5)), source="binance", symbol="BTC/USDT", timeframe="1m")
    assert old_file.exists()
    assert store.path("mt5", "EURUSD.m", "1h") == tmp_path / "mt5" / "EURUSD.m" / "1h.parquet"
    assert len(CandleStore(tmp_path).read("BTC/USDT", "1m")) == 5
    assert [s.symbol for s in store.series()] == ["BTC/USDT"]


def _grower(root: str, start: str) -> None:
    store = CandleStore(Path(root))
    _wait_for(start)
    for k in range(1, 61):
        store.upsert(_bars(np.arange(50 * k)), source="x", symbol="S", timeframe="1m")


def test_reads_during_writes_see_whole_series(tmp_path) -> None:
    """A reader racing a writer sees the old series or the new one, never an error or a mix."""
    store = CandleStore(tmp_path)
    store.upsert(_bars(np.arange(50)), source="x", symbol="S", timeframe="1m")
    start = tmp_path / "start"
    writer = _start("_grower", str(tmp_path), str(start))
    start.touch()
    lengths = []
    while writer.poll() is None or not lengths:
        stored = store.read("S", "1m")
        assert len(stored) % 50 == 0 and stored.index.is_unique
        lengths.append(len(stored))
    assert writer.wait(120) == 0 and lengths == sorted(lengths)
    assert len(store.read("S", "1m")) == 3000
