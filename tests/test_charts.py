"""The price chart and the report's calendar figures draw what a trader reads from them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.backtest.report import MONTHS, WEEKDAYS, calendar_figure, monthly_heatmap
from engine.charts import (
    RIGHT_OFFSET,
    PriceChart,
    fit_for_browser,
    gap_breaks,
    in_turn,
    local_times,
    signal_boxes,
    signals_not_taken,
    trade_boxes,
)
from engine.detect import detection_frame


def bars(n: int = 40, start: str = "2024-03-01 10:00", freq: str = "1min") -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time")
    close = 100 + np.arange(n, dtype=float)
    return pd.DataFrame({"open": close - 0.5, "high": close + 1, "low": close - 1,
                         "close": close, "volume": np.ones(n)}, index=index)


def trace(fig, name: str):
    return next(t for t in fig.data if t.name == name)


def boxes_of(xs, ys) -> list[tuple]:
    """(x0, x1, y0, y1) of each rectangle of a None-separated polygon trace."""
    out, xs, ys = [], list(xs), list(ys)
    while xs:
        x, y = xs[:6], ys[:6]
        out.append((x[0], x[1], y[0], y[2]))
        xs, ys = xs[6:], ys[6:]
    return out


def test_a_zone_ends_at_its_fill_bar_and_an_open_zone_at_the_last_bar() -> None:
    candles = bars()
    fvgs = detection_frame(candles.index, at_i=[2, 5], known_i=[3, 6], kind="fvg",
                           direction=[1, 1], top=[103.0, 108.0], bottom=[101.0, 106.0],
                           filled_i=[10, -1])
    chart = PriceChart(candles, "1m")
    chart.add_detections("bull_fvg", fvgs)
    zones = boxes_of(*(lambda t: (t.x, t.y))(trace(chart.figure, "bull_fvg: fvg bullish")))
    idx = local_times(candles.index, "UTC")
    assert zones[0] == (idx[2], idx[10], 101.0, 103.0)
    assert zones[1] == (idx[5], idx[-1], 106.0, 108.0)  # alive: to the last bar, not beyond


def test_an_invalidated_order_block_ends_at_its_invalidation_not_its_mitigation() -> None:
    candles = bars()
    blocks = detection_frame(candles.index, at_i=[2], known_i=[6], kind="order_block",
                             direction=[-1], top=[110.0], bottom=[108.0], mitigated_i=[8],
                             invalidated_i=[15])
    chart = PriceChart(candles, "1m")
    chart.add_detections("ob", blocks)
    (zone,) = boxes_of(*(lambda t: (t.x, t.y))(trace(chart.figure, "ob: order_block bearish")))
    assert zone[:2] == (candles.index[2].tz_localize(None), candles.index[15].tz_localize(None))


def test_position_boxes_run_from_entry_to_exit_green_to_target_red_to_stop() -> None:
    candles = bars()
    trades = pd.DataFrame({
        "entry_time": candles.index[[5, 20]], "exit_time": candles.index[[12, 30]],
        "entry_price": [105.0, 125.0], "stop_price": [103.0, 128.0],
        "target_price": [109.0, 119.0], "direction": [1, -1], "exit_price": [109.0, 128.0],
        "exit_reason": ["target", "stop"], "r_multiple": [2.0, -1.0]})
    chart = PriceChart(candles, "1m")
    chart.add_position_boxes(trade_boxes(trades), name="trade")
    reward = boxes_of(trace(chart.figure, "trade target").x, trace(chart.figure, "trade target").y)
    risk = boxes_of(trace(chart.figure, "trade stop").x, trace(chart.figure, "trade stop").y)
    idx = candles.index.tz_localize(None)
    assert reward == [(idx[5], idx[12], 105.0, 109.0), (idx[20], idx[30], 125.0, 119.0)]
    assert risk == [(idx[5], idx[12], 105.0, 103.0), (idx[20], idx[30], 125.0, 128.0)]
    assert trace(chart.figure, "trade target").fillcolor.startswith("rgba(38,166,154")
    assert trace(chart.figure, "trade stop").fillcolor.startswith("rgba(239,83,80")


def test_a_signal_box_ends_where_price_first_reaches_the_stop_or_target() -> None:
    candles = bars()  # rising one point a bar, high = close + 1
    signals = pd.DataFrame({"known_at": candles.index[[3]], "direction": [1],
                            "entry": [103.0], "stop": [100.0], "target": [109.0]})
    box = signal_boxes(candles, signals).iloc[0]
    assert box["start"] == candles.index[3]
    assert box["end"] == candles.index[8]  # high 109 first at bar 8


def test_focus_zooms_to_the_bars_with_padding_and_fits_the_price_axis() -> None:
    candles = bars(200)
    chart = PriceChart(candles, "1m")
    x_range = chart.focus(candles.index[100], candles.index[110], prices=(150.0, 250.0),
                          pad=5)
    idx = candles.index.tz_localize(None)
    assert x_range == (idx[95], idx[115])
    low, high = chart.figure.layout.yaxis.range
    assert low < 150.0 and high > 250.0 and high - low < 120


def test_times_are_local_without_offset_and_gaps_are_cut_out() -> None:
    friday = bars(60, "2024-03-08 20:00")  # FX: Friday evening, then Sunday evening
    sunday = bars(60, "2024-03-10 22:00")
    candles = pd.concat([friday, sunday])
    chart = PriceChart(candles, "1m", tz="Europe/Berlin")
    x = chart.figure.data[0].x
    assert pd.Timestamp(x[0]) == pd.Timestamp("2024-03-08 21:00")  # UTC+1, without "+01:00"
    assert pd.Timestamp(x[0]).tz is None
    breaks = chart.figure.layout.xaxis.rangebreaks
    assert [list(b.bounds) for b in breaks] == [["2024-03-08 22:00:00", "2024-03-10 23:00:00"]]
    assert gap_breaks(local_times(friday.index, "UTC"), pd.Timedelta("1min")) == []


def test_a_long_range_is_shown_on_a_higher_timeframe_with_the_forming_bars_marked() -> None:
    candles = bars(130, "2024-03-01 10:30")  # 10:30 .. 12:39: both hours partial
    shown, tf = fit_for_browser(candles, "1m", max_candles=3)
    assert tf == "1h"
    assert shown["partial"].tolist() == [True, False, True]
    chart = PriceChart(candles, "1m", max_candles=3)
    assert [t.name for t in chart.figure.data[:2]] == ["1h", "partial (forming)"]
    assert "shown as 1h" in chart.figure.layout.title.text


def test_sweeps_sit_on_the_swept_level_and_sessions_shade_london() -> None:
    candles = bars(1200, "2024-03-04 00:00")  # London 08:00-16:30 UTC
    from engine.detect import detect_sessions

    chart = PriceChart(candles, "1m")
    chart.add_detections("ctx", detect_sessions(candles, sessions=["asia", "london"]))
    sweeps = detection_frame(candles.index, at_i=[30], known_i=[31], kind="sweep",
                             direction=[1], top=[120.0], bottom=[120.0], level_i=[10],
                             extreme=[118.0])
    chart.add_detections("asia_low_sweep", sweeps)
    marker = trace(chart.figure, "asia_low_sweep: sweep")
    assert list(marker.y) == [120.0] and marker.x[0] == candles.index[30].tz_localize(None)
    assert any(s.yref == "y domain" for s in chart.figure.layout.shapes)  # London shaded


def test_monthly_heatmap_has_months_and_years_as_categories() -> None:
    trades = pd.DataFrame({"exit_time": pd.to_datetime(["2022-01-10", "2022-01-20",
                                                        "2023-03-05"], utc=True),
                           "r_multiple": [1.0, 2.0, -1.0]})
    fig = monthly_heatmap(trades)
    assert fig.layout.xaxis.type == "category" and fig.layout.yaxis.type == "category"
    heat = fig.data[0]
    assert list(heat.x) == list(MONTHS) and list(heat.y) == ["2023", "2022"]
    assert heat.z[1][0] == 3.0 and heat.z[0][2] == -1.0 and np.isnan(heat.z[0][0])
    spec = json.loads(fig.to_json())
    assert "2,022.5" not in json.dumps(spec)


@pytest.mark.parametrize("by, expected", [("weekday", list(WEEKDAYS)),
                                           ("hour", [str(h) for h in range(24)])])
def test_weekday_and_hour_breakdowns_are_in_calendar_order(by, expected) -> None:
    times = pd.to_datetime(["2024-03-10 23:00", "2024-03-04 01:00", "2024-03-06 12:00"],
                           utc=True)  # Sunday, Monday, Wednesday
    trades = pd.DataFrame({
        "entry_time": times, "exit_time": times, "r_multiple": [1.0, -1.0, 2.0],
        "pnl": [1.0, -1.0, 2.0], "direction": [1, 1, -1],
        "exit_reason": ["target", "stop", "target"],
        "weekday": ["Sunday", "Monday", "Wednesday"], "hour": [23, 1, 12]})
    fig = calendar_figure(trades, by)
    assert list(fig.data[0].x) == expected
    assert fig.layout.xaxis.type == "category"
    first = dict(zip(fig.data[0].x, fig.data[0].y, strict=True))
    assert first["Monday" if by == "weekday" else "1"] == -1.0


def test_the_time_axis_ends_a_few_bars_after_the_last_candle_not_far_beyond() -> None:
    candles = bars(300, freq="15min")
    chart = PriceChart(candles, "15m", tz="Europe/Berlin")
    fvgs = detection_frame(candles.index, at_i=[290], known_i=[291], kind="fvg", direction=[1],
                           top=[400.0], bottom=[398.0], filled_i=[-1])
    chart.add_detections("bull_fvg", fvgs)
    chart.add_position_boxes(signal_boxes(candles, pd.DataFrame({
        "known_at": candles.index[[295]], "direction": [1], "entry": [395.0],
        "stop": [380.0], "target": [999.0]})))
    fig = chart.figure
    idx = local_times(candles.index, "Europe/Berlin")
    bar = pd.Timedelta("15min")
    for axis in (fig.layout.xaxis, fig.layout.xaxis2):
        start, end = (pd.Timestamp(v) for v in axis.range)
        assert start == idx[0] - bar
        assert end == idx[-1] + RIGHT_OFFSET * bar
    last_drawn = max(pd.Timestamp(x) for t in fig.data if t.type == "scatter"
                     for x in t.x if x is not None)
    assert last_drawn == idx[-1]  # a living zone and an open signal stop at the last bar


def test_a_living_zone_on_a_higher_timeframe_chart_stops_at_the_last_bar() -> None:
    candles = bars(130, "2024-03-01 10:30")
    chart = PriceChart(candles, "1m", max_candles=3)  # shown as 1h: 10:00, 11:00, 12:00
    fvgs = detection_frame(candles.index, at_i=[10, 125], known_i=[11, 126], kind="fvg",
                           direction=[1, 1], top=[120.0, 230.0], bottom=[110.0, 228.0])
    chart.add_detections("bull_fvg", fvgs)
    zones = boxes_of(*(lambda t: (t.x, t.y))(trace(chart.figure, "bull_fvg: fvg bullish")))
    noon = pd.Timestamp("2024-03-01 12:00")
    assert zones[0][1] == noon
    assert zones[1][0] == zones[1][1] == candles.index[125].tz_localize(None)  # never backwards


def signal_rows(at: list[int], candles: pd.DataFrame, **extra) -> pd.DataFrame:
    n = len(at)
    return pd.DataFrame({"known_at": candles.index[at], "direction": [1] * n,
                         "entry": [150.0] * n, "stop": [90.0] * n, "target": [1000.0] * n,
                         **extra})


def test_signals_that_come_while_an_earlier_box_is_open_are_only_outlined() -> None:
    candles = bars(100)
    signals = signal_rows([5, 8, 30], candles, time_exit_bars=[10, 10, 10])
    boxes = signal_boxes(candles, signals)
    assert list(boxes["end"]) == list(candles.index[[15, 18, 40]])  # the plan's time exit
    assert list(in_turn(boxes)) == [True, False, True]
    chart = PriceChart(candles, "1m")
    chart.add_signal_boxes(boxes)
    fig = chart.figure
    filled = trace(fig, "signal target")
    outlined = trace(fig, "signal while one was open target")
    idx = candles.index.tz_localize(None)
    assert [b[:2] for b in boxes_of(filled.x, filled.y)] == [(idx[5], idx[15]),
                                                              (idx[30], idx[40])]
    assert boxes_of(outlined.x, outlined.y)[0][:2] == (idx[8], idx[18])
    assert filled.fill == "toself" and outlined.fill in (None, "none")
    assert outlined.line.dash == "dot" and outlined.line.width >= 1
    assert all(str(s).endswith("-open") for s in trace(fig, "signals while one was open")
               .marker.symbol)


def test_a_run_chart_draws_each_trade_opaque_once_and_untaken_signals_outlined() -> None:
    candles = bars(100)
    signals = signal_rows([5, 8, 40], candles)
    trades = pd.DataFrame({
        "signal_time": candles.index[[5, 40]], "entry_time": candles.index[[6, 41]],
        "exit_time": candles.index[[20, 50]], "entry_price": [150.0, 150.0],
        "stop_price": [90.0, 90.0], "target_price": [1000.0, 1000.0], "direction": [1, 1],
        "exit_price": [160.0, 95.0], "exit_reason": ["time", "stop"],
        "r_multiple": [0.2, -0.9]})
    rest = signals_not_taken(signals, trades)
    assert list(rest["known_at"]) == [candles.index[8]]
    chart = PriceChart(candles, "1m")
    chart.add_run_boxes(trades, signal_boxes(candles, rest))
    fig = chart.figure
    opaque = trace(fig, "trade target")
    assert len(boxes_of(opaque.x, opaque.y)) == 2 and opaque.fill == "toself"
    assert float(opaque.fillcolor.rsplit(",", 1)[1].rstrip(")")) > 0.25  # more than a signal
    outlined = trace(fig, "signal not taken stop")
    assert len(boxes_of(outlined.x, outlined.y)) == 1 and outlined.fill in (None, "none")
    assert len(trace(fig, "signals not taken").x) == 1 and len(trace(fig, "trades").x) == 2
