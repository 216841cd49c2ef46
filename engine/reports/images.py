"""The reports' pictures as PNG bytes: equity, R histogram and one trade on its candles.

Plain matplotlib (Agg, a `Figure` of its own per picture: no pyplot state, safe in threads), in
the app's colours (`engine.live.alert`), times in the report's zone. Notion uploads these bytes,
the HTML report inlines them as base64, Telegram could send them as photos.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.backtest.presentation import format_time, format_value, price_decimals, zone, zone_name
from engine.live.alert import DOWN, UP

DPI = 100
WINDOW = 30  # bars drawn before the entry and after the exit of a sample trade


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def equity_png(curve: pd.Series, *, title: str = "Equity", tz=None) -> bytes:
    """A line of `curve` (values indexed by time) with its drawdown shaded under the peak."""
    figure = Figure(figsize=(8, 3.2))
    axes = figure.add_subplot()
    if len(curve):
        times = pd.DatetimeIndex(curve.index).tz_convert(zone(tz)).tz_localize(None)
        values = curve.to_numpy(float)
        peak = np.maximum.accumulate(values)
        axes.plot(times, values, color="#1f77b4", linewidth=1.2)
        axes.fill_between(times, values, peak, where=values < peak, color=DOWN, alpha=0.25,
                          linewidth=0)
    else:
        axes.text(0.5, 0.5, "no trades", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _png(figure)


def r_histogram_png(r: pd.Series, *, title: str = "R per trade (net)") -> bytes:
    """Bars of the trades' R, losses red and wins green, a line at 0."""
    figure = Figure(figsize=(6, 3))
    axes = figure.add_subplot()
    values = pd.Series(r, dtype=float).dropna().to_numpy()
    if len(values):
        edges = np.histogram_bin_edges(values, bins=min(30, max(5, len(values) // 3)))
        counts, edges = np.histogram(values, bins=edges)
        centres = (edges[:-1] + edges[1:]) / 2
        axes.bar(centres, counts, width=np.diff(edges) * 0.9,
                 color=[UP if c > 0 else DOWN for c in centres])
        axes.axvline(0, color="#333", linewidth=0.8)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("R")
    axes.set_ylabel("trades")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)


def trade_png(candles: pd.DataFrame, trade: pd.Series, *, tz=None, window: int = WINDOW
              ) -> bytes:
    """Candles from `window` bars before the trade's entry to `window` bars after its exit,
    its stop and target as dashed lines from entry to exit, the entry as a triangle and the
    exit as a cross at their prices; the title names both times and prices (to the
    instrument's decimals: never rounded), the axis the zone."""
    first = max(0, candles.index.searchsorted(trade["entry_time"]) - window)
    last = candles.index.searchsorted(trade["exit_time"], side="right") + window
    bars = candles.iloc[first:last]
    figure = Figure(figsize=(7, 3.4))
    axes = figure.add_subplot()
    x = np.arange(len(bars))
    o, h, lo, c = (bars[k].to_numpy(float) for k in ("open", "high", "low", "close"))
    colours = np.where(c >= o, UP, DOWN)
    axes.add_collection(LineCollection(np.stack([np.c_[x, lo], np.c_[x, h]], axis=1),
                                       colors=colours, linewidths=0.8))
    bottom, top = np.minimum(o, c), np.maximum(o, c)
    axes.add_collection(PolyCollection(
        [[(i - 0.35, b), (i - 0.35, t), (i + 0.35, t), (i + 0.35, b)]
         for i, b, t in zip(x, bottom, top, strict=True)], facecolors=colours, edgecolors=colours))
    at_entry = bars.index.searchsorted(trade["entry_time"])
    at_exit = min(bars.index.searchsorted(trade["exit_time"]), len(bars) - 1)
    for price, colour in ((trade.get("stop_price"), DOWN), (trade.get("target_price"), UP)):
        if price is not None and price == price:
            axes.hlines(price, at_entry, at_exit, colors=colour, linestyles="dashed")
    long = trade["direction"] > 0
    axes.plot(at_entry, trade["entry_price"], marker="^" if long else "v", color="#1f3b73",
              markersize=9)
    axes.plot(at_exit, trade["exit_price"], marker="X", color="#111", markersize=9)
    axes.autoscale_view()
    ticks = x[:: max(1, len(x) // 6)]
    axes.set_xticks(ticks, [format_time(t, tz)[5:] for t in bars.index[ticks]], fontsize=7)
    axes.set_xlabel(zone_name(tz), fontsize=7)
    decimals = max(price_decimals(c), price_decimals([trade["entry_price"], trade["exit_price"]]))
    axes.set_title(f"{'long' if long else 'short'} · in {format_time(trade['entry_time'], tz)} "
                   f"@ {trade['entry_price']:,.{decimals}f} · out "
                   f"{format_time(trade['exit_time'], tz)} @ {trade['exit_price']:,.{decimals}f}"
                   f" · {format_value(trade['r_multiple'], 'r')}", fontsize=8)
    axes.grid(alpha=0.2)
    return _png(figure)
