"""The price chart a trader reads, built without Streamlit (unit-tested in tests/app).

- **Bounded**: at most `MAX_CANDLES` candles go to the browser; a longer range is shown on the
  first higher timeframe that fits, built with ``resample(..., partial=True)`` so the forming
  first and last bars stay visible, drawn grey and named "partial" (the title says so).
- **In the trader's time zone, without gaps**: every time on the chart is local time without a
  ``+00:00`` suffix; weekends, nights and outages where no bar exists are cut out of the x axis
  (Plotly rangebreaks), as on TradingView.
- **Like TradingView**: pan by dragging, wheel zoom, a crosshair with the time and price
  (unified hover and spikelines), a volume pane under the price.
- **Framed like TradingView**: the time axis runs from one bar before the first candle to
  `RIGHT_OFFSET` bars after the last one (TradingView's right offset), never a wide empty
  stretch past the data.
- **Context as it was known**: a zone (FVG, order block) is drawn from its bar until the bar
  that filled or invalidated it (to the last bar while it lives, never beyond); sessions as
  the Asia range box and London / New York shading; previous day/week levels from the bar
  they became known until the next one replaces them; sweeps as a marker on the swept level;
  structure breaks as a line from the broken swing to the breaking bar; each signal or trade
  as a position box (green from entry to target, red from entry to stop).
- **Position boxes that stay readable**: a box spans its own bars only (entry to exit for a
  trade; signal to first touch of stop or target for a signal). Trades are opaque; a signal is
  lightly filled when it would have been taken (no earlier box still open: the backtester holds
  one position at a time) and only outlined when it came while another was open or, on a run's
  chart, when it did not become a trade. A trade replaces its own signal's box.

Speed: zones, levels and boxes are a few filled `go.Scatter` traces with ``None`` separators,
one per kind, never one `add_shape` call each (Plotly copies the layout on every call: 300 zones
took 16 s). `focus` sets both ranges when the chart jumps to a signal or trade; while the user
pans or zooms, `app.plotly_view` refits the y axes to the visible bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from engine.candles import PARTIAL, TIMEFRAMES, resample, timeframe_delta

MAX_CANDLES = 4000
MAX_BREAKS = 150  # the largest gaps cut out of the x axis (every one of them costs the browser)
FOCUS_PAD = 20  # bars shown before and after a focused signal or trade
BOX_BARS = 288  # a signal's position box ends at its stop or target, or after this many bars
RIGHT_OFFSET = 5  # bars of empty space after the last candle (TradingView's right offset)
UP, DOWN = "#26a69a", "#ef5350"  # TradingView's candle colours
ZONE_FILL = {1: "rgba(38,166,154,0.20)", -1: "rgba(239,83,80,0.20)", 0: "rgba(96,125,139,0.15)"}
REWARD_FILL, RISK_FILL = "rgba(38,166,154,0.25)", "rgba(239,83,80,0.25)"
# how a position box is drawn: fill (reward, risk) or None for an outline, border, marker
BOX_STYLES = {
    "trade": {"fill": ("rgba(38,166,154,0.45)", "rgba(239,83,80,0.45)"), "width": 1,
              "dash": "solid", "open": False},
    "signal": {"fill": (REWARD_FILL, RISK_FILL), "width": 0, "dash": "solid", "open": False},
    "outline": {"fill": None, "width": 1, "dash": "dot", "open": True},
}
BORDER = {"reward": "rgba(38,166,154,0.9)", "risk": "rgba(239,83,80,0.9)"}
SESSION_SHADE = {"london": "rgba(33,150,243,0.06)", "new_york": "rgba(255,152,0,0.06)"}
LEVEL_COLORS = {"pdh": "#1565c0", "pdl": "#1565c0", "pwh": "#6a1b9a", "pwl": "#6a1b9a"}


def fit_for_browser(candles: pd.DataFrame, timeframe: str, *, max_candles: int = MAX_CANDLES
                    ) -> tuple[pd.DataFrame, str]:
    """The candles on the first timeframe that fits `max_candles`, with a boolean `partial`
    column (True for a first or last bar whose period the data does not cover)."""
    if len(candles) <= max_candles:
        return candles.assign(**{PARTIAL: False}), timeframe
    base = timeframe_delta(timeframe)
    for tf, delta in TIMEFRAMES.items():
        if delta > base and delta % base == pd.Timedelta(0):
            shown = resample(candles, tf, source_timeframe=timeframe, partial=True)
            if len(shown) <= max_candles:
                return shown, tf
    return candles.iloc[-max_candles:].assign(**{PARTIAL: False}), timeframe


def window_around(candles: pd.DataFrame, start, end, *, max_candles: int = MAX_CANDLES
                  ) -> pd.DataFrame:
    """At most `max_candles` bars of `candles` centred on [start, end]: a focused chart keeps
    its own timeframe and can still be panned on both sides."""
    index = candles.index
    first, last = index.searchsorted(start), index.searchsorted(end, side="right")
    spare = max(0, max_candles - (last - first)) // 2
    return candles.iloc[max(0, first - spare):last + spare]


def local_times(values, tz) -> pd.DatetimeIndex:
    """UTC times as naive local times in `tz` (NaT stays NaT): axis labels without an offset."""
    times = pd.DatetimeIndex(values)
    if times.tz is None:
        times = times.tz_localize("UTC")
    return times.tz_convert(tz).tz_localize(None)


def gap_breaks(local_index: pd.DatetimeIndex, bar: pd.Timedelta, *, limit: int = MAX_BREAKS
               ) -> list[dict]:
    """Rangebreaks cutting every stretch without bars (the `limit` longest ones) out of the
    axis: FX weekends and nights vanish, as on TradingView."""
    if len(local_index) < 2:
        return []
    stamps = local_index.asi8
    steps = np.diff(stamps)
    gaps = np.flatnonzero(steps > bar.value)
    if len(gaps) > limit:
        gaps = np.sort(gaps[np.argsort(steps[gaps])[-limit:]])
    return [{"bounds": [str(local_index[i] + bar), str(local_index[i + 1])]} for i in gaps]


def _polygons(x0, x1, y0, y1) -> tuple[list, list]:
    """Rectangles as one polyline with None separators (one trace draws them all)."""
    xs, ys = [], []
    for a, b, low, high in zip(x0, x1, y0, y1, strict=True):
        xs += [a, b, b, a, a, None]
        ys += [low, low, high, high, low, None]
    return xs, ys


def _segments(x0, x1, y) -> tuple[list, list]:
    xs, ys = [], []
    for a, b, level in zip(x0, x1, y, strict=True):
        xs += [a, b, None]
        ys += [level, level, None]
    return xs, ys


class PriceChart:
    """Candles (with a volume pane) and overlays in local time; `figure` is a go.Figure.

    >>> chart = PriceChart(candles, "5m", tz="Europe/London")  # doctest: +SKIP
    >>> chart.add_detections("bull_fvg", frame); chart.focus(start, end)  # doctest: +SKIP
    """

    def __init__(self, candles: pd.DataFrame, timeframe: str, *, tz="UTC", title: str = "",
                 height: int = 620, max_candles: int = MAX_CANDLES) -> None:
        self.tz = tz
        self.base_timeframe = timeframe
        self.candles, self.timeframe = fit_for_browser(candles, timeframe,
                                                       max_candles=max_candles)
        self.bar = timeframe_delta(self.timeframe)
        self.base_bar = timeframe_delta(timeframe)
        self.start = self.candles.index[0]
        self.end = self.candles.index[-1] + self.bar  # the end of the last bar's period
        self.last = self.candles.index[-1]  # the last bar: where living things stop
        self.traces: list[dict] = []
        self.layout: dict = {}
        self._base(title, height)

    @property
    def figure(self) -> go.Figure:
        """The figure, validated once: built from plain dicts, because every Plotly update
        call on a live figure re-validates and copies (0.1-0.4 s each on 4,000 candles)."""
        return go.Figure(data=self.traces, layout=self.layout)

    def x(self, values) -> pd.DatetimeIndex:
        return local_times(values, self.tz)

    def _base(self, title: str, height: int) -> None:
        c = self.candles
        x = self.x(c.index)
        done = ~c[PARTIAL].to_numpy(bool)
        for rows, name, up, down in ((done, self.timeframe, UP, DOWN),
                                     (~done, "partial (forming)", "#b0bec5", "#78909c")):
            if rows.any():
                self.traces.append({
                    "type": "candlestick", "x": x[rows], "open": c["open"].to_numpy()[rows],
                    "high": c["high"].to_numpy()[rows], "low": c["low"].to_numpy()[rows],
                    "close": c["close"].to_numpy()[rows], "name": name,
                    "increasing": {"line": {"color": up}, "fillcolor": up},
                    "decreasing": {"line": {"color": down}, "fillcolor": down}})
        rising = c["close"].to_numpy() >= c["open"].to_numpy()
        for rows, color in ((rising, "rgba(38,166,154,0.5)"), (~rising, "rgba(239,83,80,0.5)")):
            # one colour per trace: a colour per bar costs Plotly ~0.5 s of validation
            self.traces.append({"type": "bar", "x": x[rows], "y": c["volume"].to_numpy()[rows],
                                "name": "volume", "xaxis": "x2", "yaxis": "y2",
                                "marker": {"color": color, "line": {"width": 0}},
                                "showlegend": False, "hoverinfo": "skip"})
        note = (f" — shown as {self.timeframe} ({len(c):,} bars; the partial ones grey)"
                if self.timeframe != self.base_timeframe else "")
        zone = "" if str(self.tz) == "UTC" else f" · times in {self.tz}"
        spikes = {"showspikes": True, "spikemode": "across", "spikesnap": "cursor",
                  "spikethickness": 1, "spikedash": "dot", "spikecolor": "#607d8b",
                  "gridcolor": "#eceff1"}
        time_axis = {**spikes, "type": "date", "rangeslider": {"visible": False},
                     "rangebreaks": gap_breaks(x, self.bar),
                     "range": [x[0] - self.bar, x[-1] + RIGHT_OFFSET * self.bar]}
        self.layout = {
            "title": {"text": f"{title}{note}{zone}", "font": {"size": 14}}, "height": height,
            "margin": {"l": 10, "r": 60, "t": 80, "b": 20}, "dragmode": "pan",
            "hovermode": "x unified", "plot_bgcolor": "white", "bargap": 0, "barmode": "overlay",
            "uirevision": title, "spikedistance": -1, "shapes": [],
            "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1,
                       "xanchor": "right"},
            "xaxis": {**time_axis, "anchor": "y", "matches": "x2", "showticklabels": False},
            "xaxis2": {**time_axis, "anchor": "y2"},
            "yaxis": {**spikes, "domain": [0.2, 1.0], "side": "right", "fixedrange": False,
                      "tickformat": ",.2f"},
            "yaxis2": {"domain": [0.0, 0.18], "showticklabels": False, "showgrid": False},
        }

    def _trace(self, **kwargs) -> None:
        self.traces.append({"type": "scatter", **kwargs})

    def _until(self, start: pd.Series, end: pd.Series) -> pd.Series:
        """`end`, the last bar where it is missing (still alive) or later, never before
        `start`."""
        last = pd.Series(self.last, index=end.index)
        end = end.where(end.notna() & (end < last), last)
        return end.where(end >= start, start)

    def _visible(self, frame: pd.DataFrame, first: str, last: pd.Series) -> pd.DataFrame:
        keep = (frame[first] < self.end) & (last.fillna(self.end) >= self.start)
        return frame[keep.to_numpy()]

    # --- detections -----------------------------------------------------------------------

    def add_detections(self, name: str, frame: pd.DataFrame | None) -> None:
        """A condition's detections, each drawn the way its kind is read."""
        if frame is None or frame.empty:
            return
        kinds = frame["kind"].astype(str)
        for kind in kinds.unique():
            rows = frame[(kinds == kind).to_numpy()]
            if kind == "session":
                self.add_sessions(rows)
            elif kind == "sweep":
                self.add_sweeps(f"{name}: sweep", rows)
            elif kind in ("bos", "choch"):
                self.add_structure(f"{name}: {kind.upper() if kind == 'bos' else 'CHoCH'}",
                                   rows)
            elif (rows["top"] != rows["bottom"]).any():
                self.add_zones(f"{name}: {kind}", rows)
            elif kind in LEVEL_COLORS or kind.startswith("equal"):
                self.add_levels(rows)
            else:
                self.add_points(f"{name}: {kind}", rows)

    def zone_ends(self, zones: pd.DataFrame) -> pd.Series:
        """Where each zone stops being drawn: the bar that filled or invalidated it (NaT while
        it lives)."""
        end = pd.Series(pd.NaT, index=zones.index, dtype="datetime64[ns, UTC]")
        for column in ("filled_at", "invalidated_at"):
            if column in zones:
                end = end.fillna(zones[column])
        return end

    def add_zones(self, name: str, zones: pd.DataFrame) -> None:
        ends = self.zone_ends(zones)
        shown = self._visible(zones, "at", ends)
        ends = self._until(shown["at"], ends[shown.index])
        for direction, part in shown.groupby("direction"):
            xs, ys = _polygons(self.x(part["at"]), self.x(ends[part.index]), part["bottom"],
                               part["top"])
            side = {1: "bullish", -1: "bearish"}.get(int(direction), "")
            self._trace(x=xs, y=ys, fill="toself", mode="lines", line={"width": 0},
                        fillcolor=ZONE_FILL.get(int(direction), ZONE_FILL[0]),
                        name=f"{name} {side}".strip(), hoverinfo="skip")

    def add_sessions(self, sessions: pd.DataFrame) -> None:
        """Asia (and any other range) as its high/low box; London and New York shaded."""
        shown = self._visible(sessions, "at", sessions["known_at"])
        names = shown["session"].astype(str) if "session" in shown else pd.Series(
            "session", index=shown.index)
        shade = names.isin(list(SESSION_SHADE)).to_numpy()
        boxes = shown[~shade]
        if len(boxes):
            xs, ys = _polygons(self.x(boxes["at"]), self.x(boxes["known_at"]) + self.base_bar,
                               boxes["bottom"], boxes["top"])
            self._trace(x=xs, y=ys, fill="toself", mode="lines", name="session range",
                        line={"width": 1, "color": "rgba(121,85,72,0.7)", "dash": "dot"},
                        fillcolor="rgba(121,85,72,0.06)", hoverinfo="skip")
        shapes = [{"type": "rect", "xref": "x", "yref": "y domain", "x0": a, "x1": b,
                   "y0": 0, "y1": 1, "fillcolor": SESSION_SHADE[n], "line": {"width": 0},
                   "layer": "below"}
                  for a, b, n in zip(self.x(shown["at"][shade]),
                                     self.x(shown["known_at"][shade]) + self.base_bar,
                                     names[shade], strict=True)]
        self.layout["shapes"] += shapes

    def add_levels(self, levels: pd.DataFrame) -> None:
        """Each level from the bar it became known until the next one of its kind."""
        for kind, rows in levels.groupby(levels["kind"].astype(str)):
            rows = rows.sort_values("known_at")
            until = rows["known_at"].shift(-1)
            shown = self._visible(rows, "known_at", until)
            until = self._until(shown["known_at"], until[shown.index])
            xs, ys = _segments(self.x(shown["known_at"]), self.x(until), shown["top"])
            self._trace(x=xs, y=ys, mode="lines", name=kind,
                        line={"width": 1, "color": LEVEL_COLORS.get(kind, "#455a64"),
                              "dash": "dash" if kind.endswith(("l", "lows")) else "solid"},
                        hovertemplate=f"{kind} %{{y:,.2f}}<extra></extra>")

    def add_sweeps(self, name: str, sweeps: pd.DataFrame) -> None:
        """A marker on the swept level at the breaking bar, with the level drawn from where it
        formed."""
        shown = self._visible(sweeps, "at", sweeps["known_at"])
        if shown.empty:
            return
        if "level_at" in shown:
            xs, ys = _segments(self.x(shown["level_at"]), self.x(shown["at"]), shown["top"])
            self._trace(x=xs, y=ys, mode="lines", line={"width": 1, "color": "#8d6e63",
                                                         "dash": "dot"},
                        showlegend=False, hoverinfo="skip")
        low = shown["direction"].to_numpy() > 0  # a swept low: a long idea
        self._trace(x=self.x(shown["at"]), y=shown["top"], mode="markers", name=name,
                    marker={"symbol": np.where(low, "triangle-up", "triangle-down"), "size": 11,
                            "color": np.where(low, UP, DOWN),
                            "line": {"width": 1, "color": "#263238"}},
                    customdata=shown.get("extreme", shown["top"]),
                    hovertemplate="sweep of %{y:,.2f} (extreme %{customdata:,.2f})"
                                  "<extra></extra>")

    def add_structure(self, name: str, breaks: pd.DataFrame) -> None:
        shown = self._visible(breaks, "at", breaks["at"])
        if shown.empty:
            return
        start = shown["swing_at"] if "swing_at" in shown else shown["at"]
        xs, ys = _segments(self.x(start), self.x(shown["at"]), shown["top"])
        self._trace(x=xs, y=ys, mode="lines", name=name, line={"width": 1, "color": "#37474f"},
                    hoverinfo="skip")
        self._trace(x=self.x(shown["at"]), y=shown["top"], mode="text", showlegend=False,
                    text=[name.rsplit(": ", 1)[-1]] * len(shown), textposition="top center",
                    textfont={"size": 10, "color": "#37474f"}, hoverinfo="skip")

    def add_points(self, name: str, rows: pd.DataFrame) -> None:
        shown = self._visible(rows, "known_at", rows["known_at"])
        if shown.empty:
            return
        up = shown["direction"].to_numpy() > 0
        self._trace(x=self.x(shown["at"]), y=shown["top"], mode="markers", name=name,
                    marker={"symbol": np.where(up, "triangle-up", "triangle-down"), "size": 7,
                            "color": "#546e7a"},
                    hovertemplate=f"{name} %{{y:,.2f}}<extra></extra>")

    # --- plans ----------------------------------------------------------------------------

    def add_position_boxes(self, boxes: pd.DataFrame, *, name: str = "signal",
                           style: str = "signal", legend: str | None = None) -> None:
        """Position boxes from columns start, end, entry, stop, target, direction (see
        `signal_boxes`, `trade_boxes`): green from entry to target, red from entry to stop,
        drawn in `style` (`BOX_STYLES`: ``trade`` opaque, ``signal`` light, ``outline``); the
        entry markers are named `legend` (default: `name` + "s")."""
        if boxes.empty:
            return
        shown = self._visible(boxes, "start", boxes["end"])
        if shown.empty:
            return
        look = BOX_STYLES[style]
        x0, x1 = self.x(shown["start"]), self.x(shown["end"])
        with_target = shown["target"].notna().to_numpy()
        for part, label, high, rows in (
                ("reward", "target", shown["target"], with_target),
                ("risk", "stop", shown["stop"], np.ones(len(shown), bool))):
            xs, ys = _polygons(x0[rows], x1[rows], shown["entry"][rows], high[rows])
            fill = look["fill"] and look["fill"][part == "risk"]
            drawn = ({"fill": "toself", "fillcolor": fill} if fill else {})
            self._trace(x=xs, y=ys, mode="lines", name=f"{name} {label}", hoverinfo="skip",
                        line={"width": look["width"], "color": BORDER[part],
                              "dash": look["dash"]},
                        legendgroup=name, showlegend=False, **drawn)
        self._entry_markers(shown, x0, name, legend or f"{name}s", hollow=look["open"])

    def _entry_markers(self, shown: pd.DataFrame, x0, name: str, legend: str, *,
                       hollow: bool) -> None:
        long = shown["direction"].to_numpy() > 0
        text = [f"{'long' if d > 0 else 'short'} entry {e:,.2f}<br>stop {s:,.2f}<br>"
                f"target {t:,.2f}" + (f"<br>{r}" if r else "")
                for d, e, s, t, r in zip(shown["direction"], shown["entry"], shown["stop"],
                                         shown["target"], shown.get("label", [""] * len(shown)),
                                         strict=True)]
        symbols = np.where(long, "triangle-up", "triangle-down")
        self._trace(x=x0, y=shown["entry"], mode="markers", name=legend, legendgroup=name,
                    marker={"symbol": np.char.add(symbols.astype(str), "-open") if hollow
                            else symbols, "size": 10 if hollow else 12,
                            "color": np.where(long, UP, DOWN),
                            "line": {"width": 1, "color": "#263238"} if not hollow
                            else {"width": 2}},
                    text=text, hovertemplate="%{text}<extra></extra>")
        if "exit_time" in shown:
            self._trace(x=self.x(shown["exit_time"]), y=shown["exit_price"], mode="markers",
                        name="exits", legendgroup=name,
                        marker={"symbol": "x", "size": 9, "color": "#263238"},
                        text=shown["exit_reason"], hovertemplate="exit %{y:,.2f} (%{text})"
                                                                 "<extra></extra>")

    def add_signal_boxes(self, boxes: pd.DataFrame) -> None:
        """A setup's signals (`signal_boxes`): lightly filled when no earlier box was still
        open (the ones a one-position backtest would take), outlined when one was."""
        if boxes.empty:
            return
        free = in_turn(boxes)
        self.add_position_boxes(boxes[free], name="signal", style="signal")
        self.add_position_boxes(boxes[~free], name="signal while one was open",
                                style="outline", legend="signals while one was open")

    def add_run_boxes(self, trades: pd.DataFrame, boxes_not_taken: pd.DataFrame) -> None:
        """A run's trades (opaque, from entry to exit) and the boxes of its signals that did
        not become a trade (outlined; see `signals_not_taken`)."""
        self.add_position_boxes(boxes_not_taken, name="signal not taken", style="outline",
                                legend="signals not taken")
        self.add_position_boxes(trade_boxes(trades), name="trade", style="trade")

    def focus(self, start, end, *, prices=(), pad: int = FOCUS_PAD) -> tuple:
        """Zoom to [start, end] (UTC) ± `pad` bars, with the y axis fitted to those bars and
        `prices` (entry, stop, target); returns the x range set (local times)."""
        c = self.candles
        lo, hi = start - pad * self.bar, end + pad * self.bar
        inside = c[(c.index >= lo) & (c.index <= hi)]
        values = np.concatenate([inside["low"].to_numpy(), inside["high"].to_numpy(),
                                 np.asarray([p for p in prices if pd.notna(p)], float)])
        x_range = (self.x([lo])[0], self.x([hi])[0])
        for axis in ("xaxis", "xaxis2"):
            self.layout[axis]["range"] = list(x_range)
        if len(values):
            bottom, top = float(values.min()), float(values.max())
            margin = (top - bottom) * 0.06 or abs(top) * 0.001
            self.layout["yaxis"]["range"] = [bottom - margin, top + margin]
        self.layout["uirevision"] = f"focus {start} {end}"
        return x_range


def signal_boxes(candles: pd.DataFrame, signals: pd.DataFrame, *, max_bars: int = BOX_BARS
                 ) -> pd.DataFrame:
    """A box per signal: from its bar until price first reaches its stop or target (or its
    plan's time exit, at most `max_bars` later, or the data's end)."""
    if signals.empty:
        return pd.DataFrame(columns=["start", "end", "entry", "stop", "target", "direction"])
    index, high, low = candles.index, candles["high"].to_numpy(), candles["low"].to_numpy()
    lives = np.full(len(signals), max_bars)
    if "time_exit_bars" in signals:
        planned = signals["time_exit_bars"].to_numpy(float)
        usable = np.isfinite(planned) & (planned > 0)
        lives[usable] = np.minimum(planned[usable], max_bars).astype(int)
    ends = []
    for at, d, stop, target, life in zip(signals["known_at"], signals["direction"],
                                         signals["stop"], signals["target"], lives, strict=True):
        s = index.searchsorted(at) + 1
        hi, lo = high[s:s + life], low[s:s + life]
        hit = (lo <= stop) | (hi >= target) if d > 0 else (hi >= stop) | (lo <= target)
        last = s + (int(np.argmax(hit)) if hit.any() else len(hi) - 1)
        ends.append(index[min(max(last, s - 1), len(index) - 1)])
    return pd.DataFrame({"start": signals["known_at"].reset_index(drop=True),
                         "end": pd.Series(pd.DatetimeIndex(ends).tz_convert("UTC")),
                         "entry": signals["entry"].to_numpy(),
                         "stop": signals["stop"].to_numpy(),
                         "target": signals["target"].to_numpy(),
                         "direction": signals["direction"].to_numpy()})


def trade_boxes(trades: pd.DataFrame) -> pd.DataFrame:
    """A box per trade, from its entry bar to its exit bar, at its planned stop and target."""
    t = trades.reset_index(drop=True)
    return pd.DataFrame({
        "start": t["entry_time"], "end": t["exit_time"], "entry": t["entry_price"],
        "stop": t["stop_price"], "target": t["target_price"], "direction": t["direction"],
        "exit_time": t["exit_time"], "exit_price": t["exit_price"],
        "exit_reason": t["exit_reason"].astype(str),
        "label": [f"{r:+.2f} R" for r in t["r_multiple"]]})


def in_turn(boxes: pd.DataFrame) -> np.ndarray:
    """True for each box (in time order) that starts after every earlier taken box ended:
    the signals a backtest holding one position at a time could take."""
    order = np.argsort(boxes["start"].to_numpy(), kind="stable")
    starts, ends = boxes["start"].to_numpy()[order], boxes["end"].to_numpy()[order]
    taken = np.zeros(len(boxes), bool)
    busy_until = None
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        if busy_until is None or start > busy_until:
            taken[order[i]] = True
            busy_until = end
    return taken


def signals_not_taken(signals: pd.DataFrame, trades: pd.DataFrame) -> pd.DataFrame:
    """The run's signals that did not become a trade: a trade's own signal (same bar and
    side) is drawn as the trade, never twice."""
    if signals.empty or "signal_time" not in trades:
        return signals
    def keys(times, directions) -> list[tuple[int, int]]:
        stamps = pd.DatetimeIndex(times).as_unit("ns").asi8
        return list(zip(stamps.tolist(), np.asarray(directions, int).tolist(), strict=True))

    traded = set(keys(trades["signal_time"], trades["direction"]))
    mine = [key in traded for key in keys(signals["known_at"], signals["direction"])]
    return signals[~np.asarray(mine, bool)]
