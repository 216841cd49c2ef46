"""The store under concurrent writers and hostile names: an upsert's read-merge-write holds a
lock, so two processes never lose each other's bars; sources and symbols never leave their
folder."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.adapters.store import CandleStore
from engine.errors import DataError

BARS_PER_WRITER = 40


def _bars(minutes: np.ndarray) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.Timestamp("2024-01-01", tz="UTC")
                             + pd.to_timedelta(minutes, unit="min"), name="time").as_unit("ns")
    price = 100.0 + minutes.astype(np.float64)
    return pd.DataFrame({"open": price, "high": price + 1, "low": price - 1, "close": price,
                         "volume": 1.0}, index=index)


def _writer(root: str, parity: int, start) -> None:
    """Upsert one bar at a time: even minutes in one process, odd ones in the other."""
    store = CandleStore(Path(root))
    start.wait(30)
    for k in range(BARS_PER_WRITER):
        store.upsert(_bars(np.array([2 * k + parity])), source="x", symbol="BTC/USDT",
                     timeframe="1m")


def test_two_processes_upserting_one_series_lose_no_bars(tmp_path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [context.Process(target=_writer, args=(str(tmp_path), parity, start))
               for parity in (0, 1)]
    for writer in writers:
        writer.start()
    start.set()
    for writer in writers:
        writer.join(120)
    assert [w.exitcode for w in writers] == [0, 0]
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


def _grower(root: str, start) -> None:
    store = CandleStore(Path(root))
    start.wait(30)
    for k in range(1, 61):
        store.upsert(_bars(np.arange(50 * k)), source="x", symbol="S", timeframe="1m")


def test_reads_during_writes_see_whole_series(tmp_path) -> None:
    """A reader racing a writer sees the old series or the new one, never an error or a mix."""
    store = CandleStore(tmp_path)
    store.upsert(_bars(np.arange(50)), source="x", symbol="S", timeframe="1m")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writer = context.Process(target=_grower, args=(str(tmp_path), start))
    writer.start()
    start.set()
    lengths = []
    while writer.is_alive() or not lengths:
        stored = store.read("S", "1m")
        assert len(stored) % 50 == 0 and stored.index.is_unique
        lengths.append(len(stored))
    writer.join(120)
    assert writer.exitcode == 0 and lengths == sorted(lengths)
    assert len(store.read("S", "1m")) == 3000
