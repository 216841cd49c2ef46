"""Plain candle charts for the Data and Editor pages, built on `engine.charts` (bounded
candle count, the trader's time zone, no gaps, volume pane); `add_signals` marks signals;
`preview_figure` is the Editor's light preview of a setup (its last `PREVIEW_CANDLES` bars)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from engine.charts import MAX_CANDLES, PriceChart, fit_for_browser, local_times

__all__ = ["MAX_CANDLES", "PLAIN_CANDLES", "PREVIEW_CANDLES", "add_signals", "candle_figure",
           "fit_for_browser", "preview_figure"]

# a preview, not the chart (the Backtest page shows the whole range): fewer bars to send and
# for the browser to draw again after every save. Plotly draws a candle in ~0.4 ms (1,200 bars
# were ~150 KB of JSON and ~0.4 s of the browser's main thread after each Save); 500 bars of
# 15m are five days, wider than the chart is in pixels
PREVIEW_CANDLES = 500
# a plain chart of a whole range (the Data page): a longer range is shown on the first higher
# timeframe that fits, as on the Backtest page, but sooner: a chart ~1,300 px wide cannot show
# more candles than this apart, and each one costs the browser (2,016 bars: ~0.7 s to draw)
PLAIN_CANDLES = 1000


def candle_figure(candles: pd.DataFrame, timeframe: str, *, title: str = "",
                  height: int = 560, tz="UTC", max_candles: int = MAX_CANDLES) -> go.Figure:
    return PriceChart(candles, timeframe, tz=tz, title=title, height=height,
                      max_candles=max_candles).figure


def add_signals(fig: go.Figure, signals: pd.DataFrame, *, tz="UTC") -> None:
    """Signals as triangles at their entry, with their stop as a dash below (above)."""
    if signals.empty:
        return
    for side, symbol, color, name in ((1, "triangle-up", "#26a69a", "long signal"),
                                      (-1, "triangle-down", "#ef5350", "short signal")):
        part = signals[signals["direction"] == side]
        if len(part):
            x = local_times(part["known_at"], tz)
            fig.add_scatter(x=x, y=part["entry"], mode="markers", name=name,
                            marker={"symbol": symbol, "size": 13, "color": color,
                                    "line": {"width": 1, "color": "#222"}})
            fig.add_scatter(x=x, y=part["stop"], mode="markers", name="stop",
                            marker={"symbol": "line-ew", "size": 12, "line": {"width": 2},
                                    "color": "#7f8c8d"}, showlegend=False)


def preview_figure(candles: pd.DataFrame, signals: pd.DataFrame, timeframe: str, *, title: str,
                   height: int = 420, tz="UTC") -> go.Figure:
    """The last `PREVIEW_CANDLES` bars at the setup's own timeframe, with the signals among
    them; the title counts every signal of the range and says how many are shown."""
    shown = candles.iloc[-PREVIEW_CANDLES:]
    if len(shown) < len(candles):
        inside = signals[signals["known_at"] >= shown.index[0]] if len(signals) else signals
        title = (f"{title}: {len(signals)} signals ({len(inside)} in the last {len(shown):,} "
                 "bars shown)")
        signals = inside
    else:
        title = f"{title}: {len(signals)} signals"
    fig = candle_figure(shown, timeframe, title=title, height=height, tz=tz)
    add_signals(fig, signals, tz=tz)
    return fig
