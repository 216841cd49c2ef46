"""The HTML report's random-sample charts are candles with the trade's position box, drawn by
the app's own chart (`engine.charts.PriceChart`), in the report's time zone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.backtest.report import trade_figure, write_html_report
from engine.backtest.run import run_backtest
from engine.demo import run_demo


def candles(n: int = 200) -> pd.DataFrame:
    index = pd.date_range("2024-03-04 08:00", periods=n, freq="5min", tz="UTC", name="time")
    close = 100 + np.sin(np.arange(n) / 5) * 3
    return pd.DataFrame({"open": close - 0.3, "high": close + 1, "low": close - 1,
                         "close": close, "volume": np.ones(n)}, index=index)


def test_a_sample_trade_is_candles_with_its_position_box_from_entry_to_exit() -> None:
    c = candles()
    trade = pd.Series({"entry_time": c.index[100], "exit_time": c.index[112],
                       "entry_price": 100.5, "stop_price": 99.0, "target_price": 103.5,
                       "exit_price": 103.5, "direction": 1, "exit_reason": "target",
                       "r_multiple": 2.0})
    fig = trade_figure(c, trade, timeframe="5m", tz="Asia/Tokyo", window=30)
    kinds = [t.type for t in fig.data]
    assert "candlestick" in kinds and "bar" in kinds  # candles and the volume pane
    shown = pd.DatetimeIndex(fig.data[0].x)
    local = c.index[70:143].tz_convert("Asia/Tokyo").tz_localize(None)
    assert shown.equals(local)  # 30 bars each side, in the report's zone, without offset
    target = next(t for t in fig.data if t.name == "trade target")
    stop = next(t for t in fig.data if t.name == "trade stop")
    entry, exit_ = local[30], local[42]
    assert [pd.Timestamp(x) for x in target.x[:2]] == [entry, exit_]
    assert (min(target.y[:5]), max(target.y[:5])) == (100.5, 103.5)  # entry to target
    assert (min(stop.y[:5]), max(stop.y[:5])) == (99.0, 100.5)  # entry to stop
    assert target.fillcolor.startswith("rgba(38,166,154") and stop.fillcolor.startswith(
        "rgba(239,83,80")
    exits = next(t for t in fig.data if t.name == "exits")
    assert pd.Timestamp(exits.x[0]) == exit_ and list(exits.y) == [103.5]


def test_the_report_draws_sample_candles_and_names_the_zone_of_its_breakdowns(ita_home) -> None:
    run_demo()
    result = run_backtest("sma-cross", start="2023-03-01", end="2023-03-03")
    runs = RunStore.from_settings()
    bars = CandleStore.from_settings().read("BTC/USDT", "1m")
    html = write_html_report(runs, result.run_id, bars, samples=3, tz="Asia/Tokyo").read_text()
    charts = html.split("Random-sample check", 1)[1].split("<h2>Trades", 1)[0]
    assert charts.count('"increasing":{"fillcolor":"#26a69a"') == 3  # the app's candles
    assert charts.count('"name":"trade target"') == 3
    assert "Weekday (Asia/Tokyo)" in html and "Hour (Asia/Tokyo)" in html
    assert "Total R by weekday (Asia\\u002fTokyo)" in html  # the figure JSON escapes "/"
