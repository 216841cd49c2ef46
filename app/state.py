"""Stores and cached loaders for the pages (st.cache_data keyed on file modification times)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import streamlit as st

from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.jobs.bus import JobBus
from engine.settings import Settings, get_settings
from engine.setups.store import SetupStore


def settings() -> Settings:
    return get_settings()


def candle_store() -> CandleStore:
    return CandleStore.from_settings(settings())


def setup_store() -> SetupStore:
    return SetupStore.from_settings(settings())


def run_store() -> RunStore:
    return RunStore.from_settings(settings())


def job_bus() -> JobBus:
    return JobBus.from_settings(settings())


def _stamp(folder: Path, pattern: str = "**/*") -> int:
    """The names and modification times of the files below `folder`: the cache key that
    changes with the data, also when a file is deleted or renamed (a rename keeps its time)."""
    if not folder.exists():
        return 0
    stamps = []
    for path in folder.glob(pattern):
        with contextlib.suppress(FileNotFoundError):  # deleted while we look
            stamps.append((path.as_posix(), path.stat().st_mtime_ns))
    return hash(tuple(sorted(stamps)))


@st.cache_data(show_spinner=False, max_entries=32)
def _series(root: str, stamp: float) -> pd.DataFrame:
    rows = [{"source": s.source, "symbol": s.symbol, "timeframe": s.timeframe,
             "first": s.first, "last": s.last, "bars": s.bars, "missing": s.missing_bars}
            for s in CandleStore(Path(root)).series()]
    return pd.DataFrame(rows)


def series() -> pd.DataFrame:
    store = candle_store()
    return _series(str(store.root), _stamp(store.root, "*/*/*.parquet"))


@st.cache_data(show_spinner=False, max_entries=16)
def _candles(root: str, stamp: float, symbol: str, timeframe: str, start, end) -> pd.DataFrame:
    return CandleStore(Path(root)).read(symbol, timeframe, start=start, end=end)


def candles(symbol: str, timeframe: str, start=None, end=None) -> pd.DataFrame:
    store = candle_store()
    return _candles(str(store.root), _stamp(store.root, "*/*/*.parquet"), symbol, timeframe,
                    start, end)


@st.cache_data(show_spinner=False, max_entries=8)
def _runs(root: str, stamp: float) -> pd.DataFrame:
    return RunStore(Path(root)).list()


def runs() -> pd.DataFrame:
    store = run_store()
    # every file of every run: a new or deleted run, and a written note, change the key
    return _runs(str(store.root), _stamp(store.root, "*/*"))


def engine_state() -> dict | None:
    import json

    path = settings().exchange_dir / "engine.json"
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    last = pd.Timestamp(state.get("last_seen"))
    state["alive"] = (pd.Timestamp.now(tz="UTC") - last) < pd.Timedelta(seconds=15)
    return state
