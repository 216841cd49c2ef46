"""The store: atomic writes under kill -9, reads, resampling, gaps, the data CLI."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.adapters.store import CandleStore
from engine.candles import resample
from engine.cli import app
from tests.conftest import BTCUSDT_CSV

ROOT = Path(__file__).resolve().parents[2]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".tmp")}


def test_kill_9_during_an_import_leaves_the_store_as_it_was(tmp_path, demo_candles) -> None:
    store = CandleStore(tmp_path / "candles")
    store.upsert(demo_candles.iloc[:5000], source="csv", symbol="BIG", timeframe="1m")
    before = _digest(store.root)
    big = tmp_path / "big.csv"
    index = pd.date_range("2020-01-01", periods=1_500_000, freq="1min", tz="UTC")
    price = 100 + np.cumsum(np.random.default_rng(1).normal(0, 0.1, len(index)))
    pd.DataFrame({"time": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": price,
                  "high": price + 1, "low": price - 1, "close": price,
                  "volume": 1.0}).to_csv(big, index=False)
    script = ("import sys; from pathlib import Path; from engine.adapters.store import "
              "CandleStore; from engine.adapters.importers import import_file; "
              f"import_file(Path({str(big)!r}), symbol='BIG', timeframe='1m', "
              f"store=CandleStore(Path({str(store.root)!r})), source='csv')")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    time.sleep(1.5)  # well inside parsing 1.5 million rows
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert _digest(store.root) == before
    assert store.read("BIG", "1m").equals(store.read("BIG", "1m"))
    assert len(store.read("BIG", "1m")) == 5000


def test_read_a_range_and_resample_from_1m(tmp_path, demo_candles) -> None:
    store = CandleStore(tmp_path)
    store.upsert(demo_candles, source="binanceus", symbol="BTC/USDT", timeframe="1m")
    month = store.read("BTC/USDT", "1m", start="2023-03-05", end="2023-03-06")
    assert len(month) == 1440 and month.index[0] == pd.Timestamp("2023-03-05", tz="UTC")
    hourly = store.read("BTC/USDT", "1h")
    reference = demo_candles.resample("1h").agg({"open": "first", "high": "max", "low": "min",
                                                  "close": "last", "volume": "sum"})
    np.testing.assert_allclose(hourly.to_numpy(), reference.to_numpy())


def test_source_must_be_chosen_when_ambiguous(tmp_path, demo_candles) -> None:
    store = CandleStore(tmp_path)
    for source in ("a", "b"):
        store.upsert(demo_candles.iloc[:10], source=source, symbol="S", timeframe="1m")
    with pytest.raises(Exception, match="several sources"):
        store.read("S", "1m")


def test_gaps_are_listed(tmp_path, demo_candles) -> None:
    store = CandleStore(tmp_path)
    store.upsert(demo_candles.iloc[:100].drop(demo_candles.index[10:13]), source="x",
                 symbol="S", timeframe="1m")
    gaps = store.gaps("S", "1m")
    assert gaps[["start", "missing_bars"]].values.tolist() == [[demo_candles.index[10], 3]]
    assert store.series()[0].missing_bars == 3


def test_fx_daily_bars_start_at_five_pm_new_york_across_dst() -> None:
    index = pd.date_range("2023-03-09 00:00", "2023-03-15 00:00", freq="1h", tz="UTC",
                          inclusive="left")
    ones = np.ones(len(index))
    candles = pd.DataFrame({"open": ones, "high": ones, "low": ones, "close": ones,
                            "volume": ones}, index=index)
    daily = resample(candles, "1d", day_boundary="17:00", day_tz="America/New_York")
    hours = sorted(set(daily.index[1:-1].hour))
    assert hours == [21, 22]  # 17:00 New York = 22:00 UTC before 12 March, 21:00 after
    assert daily["volume"].iloc[1:-1].isin([23.0, 24.0]).all()  # the DST day is 23 hours


def test_data_cli_import_list_gaps(ita_home) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["data", "import", str(BTCUSDT_CSV), "--symbol", "BTC/USDT",
                                 "--timeframe", "1m"])
    assert result.exit_code == 0, result.output
    assert "30,240 bars" in result.output
    listed = runner.invoke(app, ["data", "list"])
    assert "BTC/USDT" in listed.output and "30,240" in listed.output
    assert "0 gap(s)" in runner.invoke(app, ["data", "gaps"]).output


def test_cli_error_is_one_red_line(ita_home, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,open,high,low,close,volume\n2024-01-01,1,1,2,1,1\n")
    result = subprocess.run([sys.executable, "-m", "engine.cli", "data", "import", str(bad),
                             "--symbol", "X", "--timeframe", "1m"], cwd=ROOT,
                            capture_output=True, text=True,
                            env={**os.environ, "ITA_HOME": str(ita_home)})
    assert result.returncode == 1
    assert result.stderr.strip() == "error: bad.csv:2: high 1.0 is below low 2.0"
