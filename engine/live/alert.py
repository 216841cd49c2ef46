"""What the trader's phone shows for one live signal: a chart PNG and a Telegram caption.

`render_png` draws, with plain matplotlib (Agg, a `Figure` of its own: no pyplot state, safe
in threads), the last `bars` closed bars up to the signal bar, never one after it:

- candles and a volume pane; bars side by side without gaps (nights and weekends of FX
  markets take no room), the time axis in the trader's zone, without an offset;
- London and New York shaded, as on the app's chart;
- the setup's context from the signal's ``reasons`` (the detections that made it, as known
  at its bar): zones (FVG, order block, any detection with a top above its bottom) from their
  bar to the signal, the swept level as a dotted line with a marker on the sweeping bar,
  a structure break as a line with its name, other levels as lines, events as markers;
- a TradingView-like position box to the right of the signal bar (green from entry to target,
  red from entry to stop) with the three prices labelled at the instrument's precision;
- the title ``SETUP vN · SYMBOL TF · long``.

`caption` writes the message under the picture in Telegram's HTML (every text from the
setup, the signal or the ranking is escaped) and guarantees Telegram's limit of 1,024
characters, counted as Telegram counts them (UTF-16 code units), by dropping strengths and
weaknesses first, then shortening the "why" line.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.backtest.presentation import price_decimals, zone, zone_name
from engine.candles import timeframe_delta
from engine.detect.sessions import session_mask
from engine.live.rank import Rank, SignalLike

CAPTION_LIMIT = 1024  # Telegram: a photo caption's characters after entity parsing
BOX_BARS = 24  # width of the position box, in bars, to the right of the signal bar
UP, DOWN = "#26a69a", "#ef5350"  # TradingView's candle colours (as engine.charts)
ZONE_COLOR = {1: UP, -1: DOWN, 0: "#607d8b"}
SESSION_SHADE = {"london": "#2196f3", "new_york": "#ff9800"}
WIDTH, HEIGHT, DPI = 9.0, 5.6, 120  # inches: 1,080 x 672 pixels, readable on a phone
LEVEL_KINDS = ("pdh", "pdl", "pwh", "pwl")
VOLUME_SHARE = 0.18  # of the chart's height, at the bottom
SHORT_NAMES = {"fvg": "FVG", "order_block": "OB"}


# --- the chart ------------------------------------------------------------------------------


def render_png(candles: pd.DataFrame, signal: SignalLike, *, tz, bars: int = 150) -> bytes:
    """The alert's chart as PNG bytes: the last `bars` bars of `candles` up to the signal's bar
    (later bars, if `candles` holds any, are never drawn) in zone `tz`, with the setup's
    context and the position box (see the module docstring)."""
    known = pd.Timestamp(signal.known_at)
    window = candles.loc[:known].iloc[-bars:]
    if window.empty:
        window = candles.iloc[:0]
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(figure)
    # one axes: the volume pane is its bottom band (a second axes costs ~40 ms of ticks)
    price = figure.add_axes((0.015, 0.08, 0.885, 0.82))
    chart = _Chart(window, signal, price, tz)
    chart.draw()
    figure.suptitle(title(signal), x=0.015, y=0.975, ha="left", fontsize=14,
                    fontweight="bold")
    figure.text(0.015, 0.925, chart.subtitle(), ha="left", fontsize=9.5, color="#455a64")
    out = io.BytesIO()
    # zlib level 1: a third of the encoding time for a slightly larger file (~80 kB)
    figure.savefig(out, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return out.getvalue()


def title(signal: SignalLike) -> str:
    """``LONDON-ASIA-SWEEP-FVG v1 · BTC/USDT 5m · long``."""
    return (f"{str(signal.setup_id).upper()} v{int(signal.setup_version)} · {signal.symbol} "
            f"{signal.timeframe} · {side(signal)}")


def side(signal: SignalLike) -> str:
    return "long" if signal.direction > 0 else "short"


def reasons_of(signal: SignalLike) -> list[dict]:
    """The detections in the signal's ``reasons`` JSON ([] when there are none or the text is
    not a JSON list of objects)."""
    try:
        found = json.loads(signal.reasons or "[]")
    except (TypeError, ValueError):
        return []
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


class _Chart:
    """One alert chart on two axes; x is the bar's position in the window (0..n-1)."""

    def __init__(self, window: pd.DataFrame, signal: SignalLike, price, tz) -> None:
        self.window, self.signal, self.price = window, signal, price
        self.tz = zone(tz)
        self.n = len(window)
        self.bar = timeframe_delta(signal.timeframe)
        self.at = self.n - 1  # the signal bar: the window's last
        plan = [signal.entry, signal.stop, signal.target]
        self.plan = [float(p) for p in plan if p is not None and math.isfinite(float(p))]
        # the instrument's precision from its prices (a computed stop has 10 decimals)
        self.decimals = price_decimals(window["close"].to_numpy()) if self.n else 2

    def draw(self) -> None:
        self._limits()
        self._sessions()
        self._candles()
        for reason in reasons_of(self.signal):
            self._reason(reason)
        self._position_box()
        self._axes()

    def subtitle(self) -> str:
        if not self.n:
            return "no candles up to the signal bar"
        start = pd.Timestamp(self.signal.known_at).tz_convert(self.tz)
        end = start + self.bar
        return (f"signal bar {start:%Y-%m-%d %H:%M}–{end:%H:%M} {zone_name(self.tz)} · "
                f"{self.n} bars · {self.signal.source} · shaded: London blue, New York orange")

    def position(self, when) -> float:
        """Bar position of a UTC time in the window (before it: -0.5, the left edge)."""
        stamp = pd.Timestamp(when)
        i = int(self.window.index.searchsorted(stamp, side="right")) - 1
        return float(i) if i >= 0 else -0.5

    def _limits(self) -> None:
        lows = self.window["low"].to_numpy()
        highs = self.window["high"].to_numpy()
        values = np.r_[lows, highs, self.plan]
        bottom, top = (float(values.min()), float(values.max())) if len(values) else (0, 1)
        margin = (top - bottom) * 0.06 or abs(top) * 0.001 or 1.0
        self.low, self.high = bottom - margin, top + margin
        self.span = self.high - self.low
        self.band = self.span * VOLUME_SHARE / (1 - VOLUME_SHARE)  # the volume pane's height
        self.price.set_ylim(self.low - self.band, self.high)
        self.price.set_xlim(-1, self.n + BOX_BARS + 1)

    def _sessions(self) -> None:
        index = self.window.index
        for name, color in SESSION_SHADE.items():
            inside = np.r_[False, session_mask(index, name), False].astype(np.int8)
            edges = np.diff(inside)
            for first, last in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1),
                                   strict=True):
                self.price.axvspan(first - 0.5, last - 0.5, color=color, alpha=0.06, lw=0,
                                   zorder=0)

    def _candles(self) -> None:
        w = self.window
        x = np.arange(self.n, dtype=float)
        o, h, lo, c, v = (w[k].to_numpy(float) for k in ("open", "high", "low", "close",
                                                         "volume"))
        colors = np.where(c >= o, UP, DOWN)
        half = 0.36
        wicks = np.stack([np.c_[x, lo], np.c_[x, h]], axis=1)
        self.price.add_collection(LineCollection(wicks, colors=colors, linewidths=0.9,
                                                 zorder=2))
        body_low, body_high = np.minimum(o, c), np.maximum(o, c)
        thinnest = self.span * 0.0015  # a doji still shows a body
        body_high = np.maximum(body_high, body_low + thinnest)
        self.price.add_collection(PolyCollection(_rectangles(x - half, x + half, body_low,
                                                             body_high),
                                                 facecolors=colors, edgecolors=colors,
                                                 linewidths=0.5, zorder=3))
        most = float(v.max()) if self.n and v.max() > 0 else 1.0
        floor = self.low - self.band
        self.price.add_collection(PolyCollection(
            _rectangles(x - half, x + half, np.full(self.n, floor),
                        floor + v / most * self.band * 0.85),
            facecolors=colors, linewidths=0, alpha=0.55, zorder=2))
        self.price.axhline(self.low, color="#b0bec5", lw=0.8, zorder=2)

    def _reason(self, reason: dict) -> None:
        kind = str(reason.get("kind", ""))
        top, bottom = finite_number(reason.get("top")), finite_number(reason.get("bottom"))
        if top is None:
            return
        bottom = top if bottom is None else bottom
        direction = int(reason.get("direction") or 0)
        start = self.position(reason.get("at"))
        color = ZONE_COLOR.get(direction, ZONE_COLOR[0])
        if kind == "sweep":
            self._sweep(start, top, direction)
        elif kind in ("bos", "choch"):
            self._structure(start, top, "BOS" if kind == "bos" else "CHoCH")
        elif top != bottom:
            self.price.add_patch(_box(start - 0.5, self.at + 0.5, bottom, top, color, 0.16))
            # a short name inside the zone's lower left corner (the caption names the
            # condition): "FVG", "OB"
            self.price.text(start - 0.3, bottom, SHORT_NAMES.get(kind, kind), fontsize=7.5,
                            color=color, va="bottom", ha="left", zorder=6, clip_on=True,
                            fontweight="bold")
        elif kind in LEVEL_KINDS or kind.startswith("equal"):
            self.price.hlines(top, start, self.at + BOX_BARS, colors="#1565c0", lw=1.0,
                              linestyles="--", zorder=4)
            self.price.text(start, top, f"{kind} {top:,.{self.decimals}f}", fontsize=8,
                            color="#1565c0", va="bottom", zorder=6, clip_on=True)
        else:
            self.price.scatter([start], [top], marker="^" if direction >= 0 else "v",
                               s=60, color="#546e7a", edgecolors="#263238", zorder=6)

    def _sweep(self, at: float, level: float, direction: int) -> None:
        """The swept level (dotted, from 30 bars before to the signal bar) and a marker on the
        sweeping bar: ▲ under a swept low (a long idea), ▼ over a swept high."""
        self.price.hlines(level, max(at - 30, -0.5), self.at + 0.5, colors="#8d6e63",
                          lw=1.1, linestyles=":", zorder=4)
        low = direction > 0
        bars = self.window
        i = int(min(max(at, 0), self.n - 1)) if self.n else 0
        y = (bars["low"].iloc[i] if low else bars["high"].iloc[i]) if self.n else level
        y = y - self.span * 0.025 if low else y + self.span * 0.025
        self.price.scatter([at], [y], marker="^" if low else "v", s=90,
                           color=UP if low else DOWN, edgecolors="#263238", zorder=7)
        self.price.text(max(at - 30, -0.5), level, f" swept {level:,.{self.decimals}f}",
                        fontsize=8, color="#5d4037", va="bottom" if low else "top", zorder=6,
                        clip_on=True)

    def _structure(self, at: float, level: float, name: str) -> None:
        self.price.hlines(level, max(at - 12, -0.5), at, colors="#37474f", lw=1.1, zorder=4)
        self.price.text(at, level, name, fontsize=8.5, color="#37474f", ha="right",
                        va="bottom", zorder=6, clip_on=True)

    def _position_box(self) -> None:
        s = self.signal
        entry, stop, target = float(s.entry), float(s.stop), finite_number(s.target)
        x0, x1 = self.at + 0.5, self.at + 0.5 + BOX_BARS
        if target is not None:
            self.price.add_patch(_box(x0, x1, min(entry, target), max(entry, target), UP,
                                      0.22))
        self.price.add_patch(_box(x0, x1, min(entry, stop), max(entry, stop), DOWN, 0.22))
        d = self.decimals
        lines = [(entry, "#263238", "Entry" + (" (limit)" if s.entry_type == "limit" else "")),
                 (stop, DOWN, "Stop")]
        if target is not None:
            lines.append((target, UP, f"Target · {float(s.r_planned):.2f} R"))
        for y, color, words in lines:
            self.price.hlines(y, x0 - 6, x1, colors=color, lw=1.3, zorder=5)
            self.price.text(x1 - 0.4, y, words, fontsize=8.5, color=color, ha="right",
                            va="bottom", fontweight="bold", zorder=8)
            # the price on the axis, as TradingView tags it
            self.price.annotate(f"{y:,.{d}f}", (1.0, y), xycoords=("axes fraction", "data"),
                                xytext=(3, 0), textcoords="offset points", fontsize=9,
                                va="center", ha="left", color="white", fontweight="bold",
                                annotation_clip=False, zorder=8,
                                bbox={"boxstyle": "square,pad=0.2", "fc": color, "ec": "none"})
        self.price.scatter([self.at], [entry], marker="^" if s.direction > 0 else "v", s=70,
                           color=UP if s.direction > 0 else DOWN, edgecolors="#263238",
                           zorder=7)

    def _axes(self) -> None:
        axis = self.price
        axis.grid(True, color="#eceff1", lw=0.6)
        axis.set_axisbelow(True)
        axis.tick_params(labelsize=8.5, length=2)
        for spine in ("top", "left"):
            axis.spines[spine].set_visible(False)
        axis.yaxis.tick_right()
        prices = MaxNLocator(7).tick_values(self.low, self.high)
        prices = prices[(prices >= self.low) & (prices <= self.high)]  # none in the volume pane
        axis.set_yticks(prices, [f"{p:,.{min(self.decimals, 8)}f}" for p in prices])
        ticks, labels = self._time_ticks()
        axis.set_xticks(ticks, labels)

    def _time_ticks(self) -> tuple[list[float], list[str]]:
        """About six ticks at the window's bars, labelled in local time: the date where the
        day changes, the clock otherwise."""
        if not self.n:
            return [], []
        local = self.window.index.tz_convert(self.tz)
        step = max(1, self.n // 6)
        ticks = list(range(self.n - 1, -1, -step))[::-1]
        labels, last_day = [], None
        for i in ticks:
            t = local[i]
            day = t.date()
            if self.bar >= pd.Timedelta(days=1):
                labels.append(f"{t:%d %b}")
            else:
                labels.append(f"{t:%H:%M}" if day == last_day else f"{t:%d %b %H:%M}")
            last_day = day
        return [float(i) for i in ticks], labels


def _rectangles(x0, x1, y0, y1) -> np.ndarray:
    return np.stack([np.c_[x0, y0], np.c_[x0, y1], np.c_[x1, y1], np.c_[x1, y0]], axis=1)


def _box(x0, x1, y0, y1, color, alpha):
    from matplotlib.patches import Rectangle

    return Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=color, alpha=alpha, lw=0,
                     zorder=1)


def finite_number(value) -> float | None:
    """`value` as a float, or None when it is missing, not a number or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- the caption ----------------------------------------------------------------------------

FIELD_CHARS = 64  # a setup id, symbol or condition name longer than this is cut in the caption
WARNING_CHARS = 240


def caption(signal: SignalLike, rank: Rank, *, tz, late: bool | None = None,
            decimals: int | None = None, paper: Sequence[str] = ()) -> str:
    """The alert's caption in Telegram HTML, at most `CAPTION_LIMIT` characters (UTF-16 code
    units, as Telegram counts): setup and version, symbol, timeframe, direction, the plan at
    the instrument's precision (`decimals`: give `price_decimals` of the candles; by default
    the entry's decimals, at least 2), planned R, the bar's time in zone `tz`, the score, the
    risk suggestion and warnings, the champion model's line when there is one (`_model_line`),
    strengths and weaknesses (the model's top ones second, after the history's overall
    sentence) and the detections behind the signal.
    `late` (default: the signal's own ``late`` attribute, else False) marks an alert sent
    after its time. `paper`: one "📒 Paper" line per paper account following the signal (what
    it does with it, `engine.paper.live`), kept after the head, each cut to `WARNING_CHARS`.
    Strengths and weaknesses are dropped first when the text is too long,
    then the "why" line is shortened, then warnings go."""
    late = bool(getattr(signal, "late", False)) if late is None else late
    if decimals is None:
        decimals = max(2, price_decimals([float(signal.entry)]))
    head = _head(signal, rank, tz=zone(tz), late=late, decimals=decimals)
    head += [_esc(_cut(line, WARNING_CHARS)) for line in paper]
    warnings = [f"⚠️ {_esc(_cut(w, WARNING_CHARS))}" for w in rank.warnings]
    strengths = _reasons("✅", rank.strengths, rank.model_strengths)
    weaknesses = _reasons("❌", rank.weaknesses, rank.model_weaknesses)
    why = _why(signal, tz=zone(tz), decimals=decimals)
    keep = 1  # strengths and weaknesses go down to the best one each before "why" is cut
    while True:
        body = [*head, *warnings, *strengths, *weaknesses]
        full = "\n".join([*body, f"Why: {_esc(why)}"] if why else body)
        if telegram_length(full) <= CAPTION_LIMIT:
            return full
        if len(strengths) > keep or len(weaknesses) > keep:
            # the longer list loses its last (weakest) sentence first
            (strengths if len(strengths) > len(weaknesses) else weaknesses).pop()
            continue
        line = _why_line(why, CAPTION_LIMIT - telegram_length("\n".join([*body, ""])))
        text = "\n".join([*body, line] if line else body)
        if telegram_length(text) <= CAPTION_LIMIT and (line or not why or not keep):
            return text
        if keep:
            keep = 0
        elif warnings:
            warnings.pop()
        else:  # only the head is left (bounded: every field in it is cut to FIELD_CHARS)
            return _whole_lines(text)


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


def _head(signal: SignalLike, rank: Rank, *, tz, late: bool, decimals: int) -> list[str]:
    d = decimals
    long = signal.direction > 0
    setup = _esc(_cut(str(signal.setup_id).upper(), FIELD_CHARS))
    market = _esc(f"{_cut(str(signal.symbol), FIELD_CHARS)} {_cut(str(signal.timeframe), 8)}")
    lines = [f"{'🟢' if long else '🔴'} <b>{setup} v{int(signal.setup_version)}</b> · "
             f"{market} · <b>{'LONG' if long else 'SHORT'}</b>"]
    if late:
        lines.append("⏰ <b>LATE</b>: sent after its time; check the price before acting")
    entry = f"Entry <code>{float(signal.entry):,.{d}f}</code>" + (
        " limit" if signal.entry_type == "limit" else " market")
    plan = [entry, f"Stop <code>{float(signal.stop):,.{d}f}</code>"]
    target = finite_number(signal.target)
    if target is not None:
        plan.append(f"Target <code>{target:,.{d}f}</code>")
    plan.append(f"<b>{float(signal.r_planned):.2f} R</b>")
    lines.append(" · ".join(plan))
    start = pd.Timestamp(signal.known_at).tz_convert(tz)
    end = start + timeframe_delta(signal.timeframe)
    lines.append(f"Bar {start:%Y-%m-%d %H:%M}–{end:%H:%M} {_esc(zone_name(tz))}")
    lines.append(_score_line(rank))
    if rank.probability is not None:
        lines.append(_model_line(rank))
    if rank.size is not None and rank.risk_money is not None:
        distance = abs(float(signal.entry) - float(signal.stop))
        lines.append(f"Risk <b>{rank.risk_money:,.2f}</b> → size <b>{rank.size:,.6g}</b> "
                     f"(stop {distance:,.{d}f} away)")
    return lines


def _score_line(rank: Rank) -> str:
    if not rank.trades:
        return f"Score <b>{rank.score:+.2f} R</b> · no history yet"
    noun = "trade" if rank.trades == 1 else "trades"
    return f"Score <b>{rank.score:+.2f} R</b>/trade · from {rank.trades} {noun}"


def _model_line(rank: Rank) -> str:
    """``🤖 Model p 0.64 (champion 3f9a0c1d, AUC 0.61) · 7 of the 10 most similar reached
    target``: the champion's calibrated probability and the similar past signals."""
    model = f"champion {_esc(_cut(rank.model_id, FIELD_CHARS))}" if rank.model_id else "champion"
    auc = f", AUC {rank.model_auc:.2f}" if rank.model_auc is not None else ""
    similar = f" · {_esc(_cut(rank.similar, WARNING_CHARS))}" if rank.similar else ""
    return f"🤖 Model p <b>{rank.probability:.2f}</b> ({model}{auc}){similar}"


def _reasons(mark: str, history: tuple[str, ...], model: tuple[str, ...]) -> list[str]:
    """The history's sentences with the model's (prefixed "model:") second, after the
    overall one, so they are the last to go when the caption is too long."""
    lines = [f"{mark} {_esc(_cut(s, WARNING_CHARS))}" for s in history]
    lines[1:1] = [f"{mark} model: {_esc(_cut(s, WARNING_CHARS))}" for s in model]
    return lines


def _why(signal: SignalLike, *, tz, decimals: int) -> str:
    """The detections behind the signal as plain text: ``asia_low_sweep: sweep 26,917.17 at
    06:45 · bull_fvg: fvg 26,979.91–26,997.10 at 08:15``."""
    parts = []
    for reason in reasons_of(signal):
        top, bottom = finite_number(reason.get("top")), finite_number(reason.get("bottom"))
        prices = "" if top is None else (
            f" {top:,.{decimals}f}" if bottom is None or bottom == top
            else f" {bottom:,.{decimals}f}–{top:,.{decimals}f}")
        try:
            when = f" at {pd.Timestamp(reason.get('at')).tz_convert(tz):%H:%M}"
        except (TypeError, ValueError):
            when = ""
        parts.append(f"{_cut(str(reason.get('condition', '')), FIELD_CHARS)}: "
                     f"{_cut(str(reason.get('kind', '')), FIELD_CHARS)}{prices}{when}")
    return " · ".join(parts)


def _why_line(why: str, room: int) -> str:
    """``Why: ...`` escaped, shortened (with …) to `room` characters; "" when nothing fits."""
    if not why or room < 20:
        return ""
    line = f"Why: {_esc(why)}"
    keep = len(why)
    while telegram_length(line) > room and keep > 0:
        keep = min(keep - 1, keep - (telegram_length(line) - room) // 2)
        line = f"Why: {_esc(why[:max(keep, 0)].rstrip())}…"
    return line if keep > 0 else ""


def _whole_lines(text: str) -> str:
    lines = text.split("\n")
    while len(lines) > 1 and telegram_length("\n".join(lines)) > CAPTION_LIMIT:
        lines.pop()
    return "\n".join(lines)


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
