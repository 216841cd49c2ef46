"""Market-data sources: the real ccxt library against a local fake Binance, and the MT5
adapter with a stand-in module."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.adapters.ccxt_source import download_history
from engine.adapters.mt5_source import MT5Source
from engine.adapters.store import CandleStore
from engine.candles import resample
from engine.cli import app
from engine.errors import DataError, SourceUnavailable, TemporaryError
from tests.data.fake_exchange import FakeBinance

ROOT = Path(__file__).resolve().parents[2]




@pytest.fixture()
def week(demo_candles) -> pd.DataFrame:
    return demo_candles.iloc[:3000]


def _download(fake, store, *, since, now, **kwargs):
    return download_history("binance", "BTC/USDT", "1m", since=since, store=store,
                            exchange=fake.client(timeout_ms=700, rate_limit=True), now=now,
                            sleep=lambda s: None, **kwargs)


def test_download_paginates_and_skips_the_open_candle(tmp_path, week) -> None:
    store = CandleStore(tmp_path)
    now = week.index[2500] + pd.Timedelta(seconds=30)  # bar 2500 is still forming
    with FakeBinance(week) as fake:
        report = _download(fake, store, since=week.index[0], now=now)
        klines = [r for r in fake.requests if r["path"].endswith("/klines")]
    stored = store.read("BTC/USDT", "1m")
    assert len(stored) == 2500 and stored.index[-1] == week.index[2499]
    np.testing.assert_allclose(stored.to_numpy(), week.iloc[:2500].to_numpy())
    # three pages of 1000, then one answer holding only the forming bar, which is dropped
    assert report.bars == 2500 and len(klines) == 4
    assert klines[0]["interval"] == "1m" and klines[0]["symbol"] == "BTCUSDT"


def test_429_and_timeout_are_retried(tmp_path, week) -> None:
    store = CandleStore(tmp_path)
    with FakeBinance(week) as fake:
        fake.script = ["429", "slow", ""]
        report = _download(fake, store, since=week.index[0], now=week.index[1500])
    assert report.retries == 2 and report.bars == 1500


def test_persistent_429_is_a_temporary_error(tmp_path, week) -> None:
    with FakeBinance(week) as fake:
        fake.script = ["429"] * 10
        with pytest.raises(TemporaryError, match="try again later"):
            _download(fake, CandleStore(tmp_path), since=week.index[0], now=week.index[100],
                      max_retries=3)


def test_resume_downloads_only_what_is_new(tmp_path, week) -> None:
    store = CandleStore(tmp_path)
    with FakeBinance(week) as fake:
        _download(fake, store, since=week.index[0], now=week.index[1200])
        fake.requests.clear()
        report = _download(fake, store, since=week.index[0], now=week.index[2999])
        first = [r for r in fake.requests if r["path"].endswith("/klines")][0]
    assert int(first["startTime"]) == week.index[1200].value // 1_000_000
    assert report.added == 2999 - 1200
    assert len(store.read("BTC/USDT", "1m")) == 2999


def _stand_in(bars: pd.DataFrame, server_offset_hours: int) -> types.SimpleNamespace:
    """A module object with the MetaTrader5 functions ITA calls."""
    local = bars.index.tz_localize(None) + pd.Timedelta(hours=server_offset_hours)
    rates = np.zeros(len(bars), dtype=[("time", "i8"), ("open", "f8"), ("high", "f8"),
                                       ("low", "f8"), ("close", "f8"), ("tick_volume", "i8"),
                                       ("spread", "i4"), ("real_volume", "i8")])
    rates["time"] = local.as_unit("s").asi8
    for c in ("open", "high", "low", "close"):
        rates[c] = bars[c]
    rates["tick_volume"] = 7
    calls = []
    return types.SimpleNamespace(
        TIMEFRAME_M1=1, TIMEFRAME_M5=5, TIMEFRAME_M15=15, TIMEFRAME_M30=30, TIMEFRAME_H1=60,
        TIMEFRAME_H4=240, TIMEFRAME_D1=1440, TIMEFRAME_W1=10080, calls=calls,
        initialize=lambda: True, shutdown=lambda: calls.append("shutdown"),
        last_error=lambda: (1, "ok"),
        symbol_info=lambda s: object() if s == "EURUSD" else None,
        copy_rates_range=lambda s, tf, a, b: calls.append(("range", s, tf)) or rates,
        copy_rates_from_pos=lambda s, tf, pos, n: calls.append(("pos", s, tf, pos, n))
        or rates[-n:],
    )


def test_mt5_adapter_converts_server_time_to_utc(demo_candles) -> None:
    bars = demo_candles.iloc[:50]
    module = _stand_in(bars, server_offset_hours=2)
    source = MT5Source(server_tz="+02:00", module=module)
    frame = source.history("EURUSD", "1m", start=bars.index[0], end=bars.index[-1])
    assert frame.index.equals(bars.index.as_unit("ns").rename("time"))
    assert (frame["volume"] == 7).all()
    latest = source.latest("EURUSD", "15m", count=10)
    assert len(latest) == 10 and module.calls[-1] == ("pos", "EURUSD", 15, 1, 10)
    source.close()
    assert "shutdown" in module.calls


def test_mt5_unknown_symbol_and_missing_package(demo_candles) -> None:
    source = MT5Source(server_tz="UTC", module=_stand_in(demo_candles.iloc[:5], 0))
    with pytest.raises(Exception, match="no symbol 'XAUUSD'"):
        source.latest("XAUUSD", "1m")
    with pytest.raises(SourceUnavailable, match="--format mt5 --tz"):
        MT5Source(server_tz="Europe/Athens")


def test_fetch_from_mt5_off_windows_is_one_line_naming_the_csv_export(ita_home) -> None:
    result = subprocess.run([sys.executable, "-m", "engine.cli", "data", "fetch", "--source",
                             "mt5", "--symbol", "EURUSD", "--timeframe", "1h", "--since",
                             "2024-01-01", "--tz", "Europe/Athens"], cwd=ROOT,
                            capture_output=True, text=True,
                            env={**os.environ, "ITA_HOME": str(ita_home)})
    assert result.returncode == 1
    message = result.stderr.strip()
    assert "\n" not in message and message.startswith("error: the MetaTrader5 package is not")
    assert "Export" in message and "ita data import FILE --format mt5 --tz" in message


@pytest.mark.parametrize("tz_option,env_tz", [(["--tz", "Etc/GMT-2"], None),
                                              ([], "+02:00")])
def test_fetch_from_mt5_through_the_terminal(ita_home, monkeypatch, demo_candles, tz_option,
                                             env_tz) -> None:
    hourly = resample(demo_candles.iloc[:1440], "1h")
    module = _stand_in(hourly, server_offset_hours=2)
    monkeypatch.setitem(sys.modules, "MetaTrader5", module)
    if env_tz:
        monkeypatch.setenv("ITA_MT5_SERVER_TZ", env_tz)
    args = ["data", "fetch", "--source", "mt5", "--symbol", "EURUSD", "--timeframe", "1h",
            "--since", "2023-03-01", *tz_option]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "24 bars" in result.output
    assert ("range", "EURUSD", 60) in module.calls and "shutdown" in module.calls
    stored = CandleStore(ita_home / "data" / "candles").read("EURUSD", "1h", source="mt5")
    np.testing.assert_allclose(stored[["open", "high", "low", "close"]].to_numpy(),
                               hourly[["open", "high", "low", "close"]].to_numpy())
    assert stored.index.equals(hourly.index)
    again = CliRunner().invoke(app, args)  # resumes after the last stored bar: nothing new
    assert again.exit_code == 0 and "0 bars" in again.output


def test_fetch_from_mt5_needs_the_server_zone(ita_home, monkeypatch, demo_candles) -> None:
    monkeypatch.setitem(sys.modules, "MetaTrader5", _stand_in(demo_candles.iloc[:5], 0))
    result = CliRunner().invoke(app, ["data", "fetch", "--source", "mt5", "--symbol", "EURUSD",
                                      "--since", "2023-03-01"])
    assert isinstance(result.exception, DataError)
    assert "give its time zone with --tz" in str(result.exception)
