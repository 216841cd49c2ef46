"""Plotly charts: candles with detections, signals and trades; never more than ~5,000 candles
are sent to the browser (a longer range is shown on a coarser timeframe, and the chart says so).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from engine.candles import TIMEFRAMES, resample, timeframe_delta

MAX_CANDLES = 5000
ZONE_COLORS = {1: "rgba(39,174,96,0.18)", -1: "rgba(192,57,43,0.18)", 0: "rgba(52,73,94,0.1)"}


def fit_for_browser(candles: pd.DataFrame, timeframe: str) -> tuple[pd.DataFrame, str]:
    """The candles, resampled to the first timeframe that fits MAX_CANDLES."""
    if len(candles) <= MAX_CANDLES:
        return candles, timeframe
    base = timeframe_delta(timeframe)
    for tf, delta in TIMEFRAMES.items():
        if delta > base and delta % base == pd.Timedelta(0):
            shown = resample(candles, tf)
            if len(shown) <= MAX_CANDLES:
                return shown, tf
    return candles.iloc[-MAX_CANDLES:], timeframe


def candle_figure(candles: pd.DataFrame, timeframe: str, *, title: str = "",
                  height: int = 560) -> go.Figure:
    shown, tf = fit_for_browser(candles, timeframe)
    fig = go.Figure(go.Candlestick(x=shown.index, open=shown["open"], high=shown["high"],
                                   low=shown["low"], close=shown["close"], name=tf))
    note = f" (shown as {tf}: {len(candles):,} bars of {timeframe})" if tf != timeframe else ""
    fig.update_layout(title=f"{title}{note}", height=height, xaxis_rangeslider_visible=False,
                      margin={"l": 40, "r": 10, "t": 40, "b": 30}, legend={"orientation": "h"})
    return fig


def add_detections(fig: go.Figure, name: str, frame: pd.DataFrame, end, *, limit: int = 300):
    """Zones as rectangles (until filled/mitigated or the chart's end), single levels as lines,
    point events (sweeps, structure breaks) as markers."""
    if frame is None or frame.empty:
        return
    frame = frame.tail(limit)
    zones = frame[frame["top"] != frame["bottom"]]
    levels = frame[frame["top"] == frame["bottom"]]
    for row in zones.itertuples():
        stop = getattr(row, "filled_at", None) or getattr(row, "mitigated_at", None)
        x1 = stop if stop is not None and not pd.isna(stop) else end
        fig.add_shape(type="rect", x0=row.at, x1=x1, y0=row.bottom, y1=row.top,
                      fillcolor=ZONE_COLORS.get(int(row.direction), ZONE_COLORS[0]),
                      line={"width": 0}, layer="below")
    if len(levels):
        symbol = levels["direction"].map({1: "triangle-up", -1: "triangle-down"}).fillna(
            "circle")
        fig.add_scatter(x=levels["known_at"], y=levels["top"], mode="markers", name=name,
                        marker={"symbol": symbol, "size": 9}, text=levels["kind"],
                        hovertemplate="%{text} %{y}<extra>" + name + "</extra>")
    if len(zones):
        fig.add_scatter(x=zones["known_at"], y=(zones["top"] + zones["bottom"]) / 2,
                        mode="markers", name=f"{name} (zones)", marker={"size": 5},
                        text=zones["kind"])


def add_signals(fig: go.Figure, signals: pd.DataFrame) -> None:
    if signals.empty:
        return
    longs = signals[signals["direction"] > 0]
    shorts = signals[signals["direction"] < 0]
    for part, symbol, color, name in ((longs, "triangle-up", "#27ae60", "long signal"),
                                      (shorts, "triangle-down", "#c0392b", "short signal")):
        if len(part):
            fig.add_scatter(x=part["known_at"], y=part["entry"], mode="markers", name=name,
                            marker={"symbol": symbol, "size": 13, "color": color,
                                    "line": {"width": 1, "color": "#222"}})
            fig.add_scatter(x=part["known_at"], y=part["stop"], mode="markers", name="stop",
                            marker={"symbol": "line-ew", "size": 12, "line": {"width": 2},
                                    "color": "#7f8c8d"}, showlegend=False)


def add_trades(fig: go.Figure, trades: pd.DataFrame) -> None:
    if trades.empty:
        return
    fig.add_scatter(x=trades["entry_time"], y=trades["entry_price"], mode="markers",
                    name="entry", marker={"symbol": "circle", "size": 8, "color": "#2980b9"})
    fig.add_scatter(x=trades["exit_time"], y=trades["exit_price"], mode="markers", name="exit",
                    marker={"symbol": "x", "size": 9, "color": "#2c3e50"},
                    text=trades["exit_reason"])


def shade_sessions(fig: go.Figure, candles: pd.DataFrame, session: str = "london") -> None:
    from engine.detect.sessions import detect_sessions

    for row in detect_sessions(candles, sessions=[session]).tail(60).itertuples():
        fig.add_vrect(x0=row.at, x1=row.known_at, fillcolor="rgba(241,196,15,0.07)",
                      line_width=0, layer="below")
