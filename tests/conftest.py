"""Shared fixtures: the real demo candles and an isolated ITA home per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("SMC_CREDIT", "0")  # smartmoneyconcepts prints a banner otherwise

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "demo"
BTCUSDT_CSV = DEMO_DIR / "binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv"
BTCUSD_CSV = DEMO_DIR / "binanceus_BTCUSD_1m_2023-03-01_2023-03-21.csv"


def read_demo_candles(path: Path = BTCUSDT_CSV) -> pd.DataFrame:
    """The real Binance.US 1m candles as a contract frame, read without the importers so that
    engine tests do not depend on them."""
    frame = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(frame["open_time"], utc=True), name="time")
    columns = ["open", "high", "low", "close", "volume"]
    return pd.DataFrame(frame[columns].to_numpy("float64"), index=index, columns=columns)


@pytest.fixture(scope="session")
def demo_candles() -> pd.DataFrame:
    """30,240 real BTC/USDT 1m candles, March 1-21 2023 (read-only: copy before changing)."""
    return read_demo_candles()


@pytest.fixture()
def ita_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ITA home folder; `engine.settings.get_settings()` points at it."""
    monkeypatch.setenv("ITA_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=True)
def _served_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest runs pages without a server, and Streamlit's global config (where the app reads
    its listening address) is reset by whichever AppTest ran before; pages under test are
    served on 127.0.0.1 unless a test says otherwise (tests/test_access.py does)."""
    monkeypatch.setattr("app.auth.served_address", lambda: "127.0.0.1")


_MAIN = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _main_module_restored():
    """AppTest runs a page as ``__main__`` and leaves it there; a process started later with
    the spawn method (a Dask worker, a job child) would then run that page again on start.
    Each test ends with pytest's own ``__main__`` back."""
    yield
    sys.modules["__main__"] = _MAIN
