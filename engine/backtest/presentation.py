"""How numbers, times and names are shown to a trader: one module for the app, the HTML report
and the CLI (pure: no Streamlit, no files).

| what | shown as | example |
| --- | --- | --- |
| a missing value (None, NaN, NaT) | ``—`` | ``—`` |
| a count | thousands separated | ``1,234`` |
| a percent (``pct``: already ×100; ``ratio``: a fraction) | one decimal, no space | ``48.2%`` |
| an R multiple | signed, two decimals | ``+1.25 R`` |
| money | two decimals, thousands separated | ``-1,234.50`` |
| a price | the instrument's decimals (`price_decimals`) | ``23,456.78`` |
| a time | to the minute, display zone, no offset (the header names it) | ``2023-03-01 14:05`` |
| a weekday, an hour | of the entry, in the display zone (the header names it) | ``Monday`` |
| a direction | ``long`` / ``short`` | ``short`` |

Metrics are shown in `METRICS` order (headline numbers first, then the counts); simulation
counters with `COUNTER_LABELS`; trade, signal and run columns with `TRADE_COLUMNS`,
`SIGNAL_COLUMNS` and `RUN_COLUMNS`. A name with no label falls back to its words ("new_key" →
"New key"), but every metric and counter the engine writes has one (tested).

>>> format_value(0.4821, "ratio")
'48.2%'
>>> format_value(float("nan"), "r")
'—'
>>> format_value(pd.Timestamp("2023-03-01 14:05", tz="UTC"), "time", tz="Europe/Athens")
'2023-03-01 16:05'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

import numpy as np
import pandas as pd

from engine.backtest.metrics import CALENDAR, calendar_key

MISSING = "—"
MAX_DECIMALS = 8
TIME_FORMAT = "%Y-%m-%d %H:%M"

# metric -> (label, kind), in reading order: the headline numbers, then the counts
METRICS: dict[str, tuple[str, str]] = {
    "trades": ("Trades", "count"),
    "win_rate": ("Win rate", "ratio"),
    "expectancy_r_net": ("Expectancy R (net)", "r"),
    "expectancy_r_gross": ("Expectancy R (gross)", "r"),
    "expectancy_r": ("Expectancy R", "r"),
    "avg_r_net": ("Avg R (net)", "r"),
    "avg_r_gross": ("Avg R (gross)", "r"),
    "avg_r": ("Avg R", "r"),
    "costs_r": ("Costs per trade (R)", "r"),
    "profit_factor": ("Profit factor", "number"),
    "total_profit": ("Net profit", "money"),
    "total_return_pct": ("Return", "pct"),
    "max_drawdown_pct": ("Max drawdown", "pct"),
    "max_drawdown": ("Max drawdown (money)", "money"),
    "sharpe": ("Sharpe", "number"),
    "sortino": ("Sortino", "number"),
    "sqn": ("SQN", "number"),
    "expectancy_money": ("Expectancy (money)", "money"),
    "avg_planned_rr": ("Avg planned R:R", "number"),
    "buy_and_hold_pct": ("Buy and hold", "pct"),
    "exposure_pct": ("Time in a trade", "pct"),
    "fees": ("Fees", "money"),
    "max_drawdown_duration": ("Longest drawdown", "duration"),
    "longest_win_streak": ("Longest win streak", "count"),
    "longest_loss_streak": ("Longest loss streak", "count"),
    "wins": ("Wins", "count"),
    "losses": ("Losses", "count"),
    "closed_at_data_end": ("Closed by the end of the data", "count"),
    "closed_at_window_end": ("Closed by a test window's end", "count"),
    "open_at_end": ("Still open at the end", "count"),
    "total_r": ("Total R", "r"),
    "start": ("From", "time"),
    "end": ("To", "time"),
    "bars": ("Bars", "count"),
}

# simulation counters (engine.backtest.simulate.COUNTERS and the ones counted around it), in
# the order a signal meets them
COUNTER_LABELS: dict[str, str] = {
    "signals": "Signals",
    "signals_dropped_invalid_stop": "Dropped: stop on the wrong side of the entry",
    "filtered_stop_too_tight": "Filtered: stop too tight",
    "skipped_in_position": "Skipped: already in a trade",
    "skipped_order_working": "Skipped: an order was still working",
    "unfilled_or_invalid": "Not filled: expired, invalid or no equity",
    "gapped_past_stop": "Entry opened beyond the stop",
    "no_bar_to_fill": "No bar left to fill on",
    "known_after_data": "Known after the last candle",
    "size_capped_by_leverage": "Size capped by the leverage limit",
    "ambiguous_lower_tf": "Stop and target in one bar: decided by 1m bars",
    "ambiguous_stop_first": "Stop and target in one bar: stop assumed first",
    "closed_at_data_end": "Closed by the end of the data",
    "closed_at_window_end": "Closed by a test window's end",
}

# values of text columns, in the trader's words
CHOICES: dict[str, dict] = {
    "direction": {1: "long", -1: "short"},
    "exit_reason": {"stop": "stop", "target": "target", "time": "time exit",
                    "end": "end of data", "window_end": "end of test window",
                    "breakeven": "breakeven"},
    "ambiguous": {"": MISSING, "lower_tf": "1m bars decided", "stop_first": "stop assumed"},
    "session": {"asia": "Asia", "london": "London", "new_york": "New York", "other": "other"},
    "entry_type": {"market": "market", "limit": "limit"},
}
CHOICES["entry_session"] = CHOICES["session"]


@dataclasses.dataclass(frozen=True)
class Column:
    """One shown column: the frame's column, its header and how its values are formatted."""

    name: str
    label: str
    kind: str = "text"


TRADE_COLUMNS = (
    Column("direction", "Side", "side"), Column("signal_time", "Signal", "time"),
    Column("entry_time", "Entry", "time"), Column("entry_price", "Entry price", "price"),
    Column("stop_price", "Stop", "price"), Column("target_price", "Target", "price"),
    Column("exit_time", "Exit", "time"), Column("exit_price", "Exit price", "price"),
    Column("exit_reason", "Exit reason", "choice"), Column("r_net", "R (net)", "r"),
    Column("r_gross", "R (gross)", "r"), Column("costs_r", "Costs (R)", "r"),
    Column("r_multiple", "R", "r"), Column("slippage", "Slippage", "money"),
    Column("pnl", "P&L", "money"), Column("fees", "Fees", "money"),
    Column("size", "Size", "size"), Column("risk", "Risk", "money"),
    Column("r_planned", "Planned R:R", "number"), Column("mfe_r", "MFE", "r"),
    Column("mae_r", "MAE", "r"), Column("bars_held", "Bars held", "count"),
    Column("partial_price", "Partial exit", "price"),
    Column("ambiguous", "Stop & target in one bar", "choice"),
    Column("session", "Session", "choice"), Column("entry_session", "Entry session", "choice"),
    Column("weekday", "Weekday", "weekday"), Column("hour", "Hour", "hour"),
    Column("symbol", "Symbol"), Column("setup_id", "Setup"),
    Column("setup_version", "Version", "count"),
)
# what fits a printed page: the HTML report's trades table
REPORT_TRADE_COLUMNS = ("direction", "entry_time", "entry_price", "stop_price", "target_price",
                        "exit_time", "exit_price", "exit_reason", "r_net", "r_gross", "pnl",
                        "bars_held")

SIGNAL_COLUMNS = (
    Column("known_at", "Known at", "time"), Column("direction", "Side", "side"),
    Column("entry_type", "Order", "choice"), Column("entry", "Entry", "price"),
    Column("stop", "Stop", "price"), Column("target", "Target", "price"),
    Column("r_planned", "Planned R:R", "number"),
    Column("expiry_bars", "Order life (bars)", "count"),
    Column("time_exit_bars", "Time exit (bars)", "count"),
    Column("breakeven_r", "Breakeven at", "r"), Column("partial_r", "Partial at", "r"),
    Column("partial_fraction", "Partial size", "ratio"), Column("symbol", "Symbol"),
    Column("setup_id", "Setup"), Column("setup_version", "Version", "count"),
)

RUN_COLUMNS = (
    Column("name", "Run"), Column("short_id", "Id"), Column("setup_id", "Setup"),
    Column("setup_version", "Version", "count"), Column("symbol", "Symbol"),
    Column("timeframe", "TF"), Column("start", "From", "time"), Column("end", "To", "time"),
    Column("trades", "Trades", "count"), Column("win_rate", "Win rate", "ratio"),
    Column("expectancy_r", "Expectancy R (net)", "r"),
    Column("profit_factor", "Profit factor", "number"),
    Column("total_return_pct", "Return", "pct"),
    Column("max_drawdown_pct", "Max drawdown", "pct"),
    Column("note", "Note"), Column("created_at", "Run at", "time"), Column("run_id", "Run id"),
)

BREAKDOWN_COLUMNS = (
    Column("trades", "Trades", "count"), Column("win_rate", "Win rate", "ratio"),
    Column("total_r", "Total R", "r"), Column("avg_r", "Avg R (net)", "r"),
    Column("avg_r_gross", "Avg R (gross)", "r"),
    Column("pnl", "P&L", "money"), Column("profit_factor", "Profit factor", "number"),
)


def is_missing(value) -> bool:
    """None, NaN, NaT and pandas' NA."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def words(name: str) -> str:
    """A snake_case name as words, for a name without a label: "new_key" → "New key"."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def label(name: str) -> str:
    """The label of a metric, counter or column name; its words when it has none."""
    if name in METRICS:
        return METRICS[name][0]
    if name in COUNTER_LABELS:
        return COUNTER_LABELS[name]
    for column in TRADE_COLUMNS + SIGNAL_COLUMNS + RUN_COLUMNS:
        if column.name == name:
            return column.label
    return words(name)


def percent(value: float) -> str:
    """The one percent format: one decimal, no space (``12.3%``)."""
    return f"{value:,.1f}%"


def zone(tz=None) -> dt.tzinfo:
    """A tzinfo from a zone name or tzinfo (None: UTC)."""
    if tz is None:
        return dt.UTC
    if isinstance(tz, str):
        from engine.timezones import parse_timezone

        return parse_timezone(tz, field="display time zone")
    return tz


def zone_name(tz=None) -> str:
    """The zone as a header shows it: ``UTC``, ``Europe/Athens``, ``UTC+02:00``."""
    tz = zone(tz)
    key = getattr(tz, "key", None)
    if key:
        return key
    offset = tz.utcoffset(None) or dt.timedelta(0)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


ZONED = ("time", "weekday", "hour")  # kinds whose values depend on the display zone


def header(column: Column, tz=None) -> str:
    """The column header; a time, weekday or hour column names its zone: ``Entry (UTC)``."""
    return f"{column.label} ({zone_name(tz)})" if column.kind in ZONED else column.label


def breakdown_column(by: str, tz=None) -> Column:
    """The group column of a breakdown (`engine.backtest.metrics.breakdown`); a calendar
    group names the zone it was computed in: ``Weekday (Europe/Berlin)``."""
    kind = "choice" if by in CHOICES else "count" if by == "hour" else "text"
    text = words(by)
    return Column(by, f"{text} ({zone_name(tz)})" if by in CALENDAR else text, kind)


def format_time(value, tz=None) -> str:
    """A time to the minute in zone `tz`, without the offset (the header names the zone)."""
    if is_missing(value):
        return MISSING
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert(zone(tz)).strftime(TIME_FORMAT)


def format_duration(value) -> str:
    """A duration in days, hours and minutes: ``3 d 04:05``."""
    if is_missing(value):
        return MISSING
    delta = pd.Timedelta(value)
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    clock = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"{days} d {clock}" if days else clock


def format_value(value, kind: str = "number", *, decimals: int = 2, tz=None,
                 name: str | None = None) -> str:
    """`value` shown as `kind` (see the module table); ``—`` when it is missing.

    `decimals` is the price precision (kind ``price``), `tz` the display zone (kind ``time``),
    `name` the column whose `CHOICES` a ``choice`` value is looked up in."""
    if is_missing(value):
        return MISSING
    if kind == "time":
        return format_time(value, tz)
    if kind == "duration":
        return format_duration(value)
    if kind == "side":
        return CHOICES["direction"].get(int(value), str(value))
    if kind == "choice":
        return CHOICES.get(name or "", {}).get(value, str(value)) or MISSING
    if kind in ("weekday", "hour"):  # already local (`display_values`)
        kind = "text" if kind == "weekday" else "count"
    if kind == "text" or isinstance(value, bool) or not isinstance(value, int | float
                                                                   | np.number):
        return str(value)
    if kind == "number" and isinstance(value, int | np.integer):
        kind = "count"
    return _number(float(value), kind, decimals)


def _number(value: float, kind: str, decimals: int) -> str:
    if not math.isfinite(value):
        return MISSING
    formats = {"count": "{:,.0f}", "ratio": None, "pct": None, "r": "{:+,.2f} R",
               "money": "{:,.2f}", "price": f"{{:,.{decimals}f}}", "size": "{:,.6g}"}
    if kind == "ratio":
        return percent(value * 100)
    if kind == "pct":
        return percent(value)
    return (formats.get(kind) or "{:,.2f}").format(value)


def price_decimals(prices, *, cap: int = MAX_DECIMALS, sample: int = 2000) -> int:
    """The instrument's price precision: the most decimals seen in a sample of its prices
    (at most `cap`; 2 when there are none). A float carries no tick size, so the decimals are
    read from the values: 23456.78 has 2, 1.08523 has 5.

    >>> price_decimals([23456.78, 23457.1, 23460.0])
    2
    >>> price_decimals([1.08523, 1.0852])
    5
    """
    values = np.asarray(prices, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if not len(values):
        return 2
    if len(values) > sample:
        values = values[np.linspace(0, len(values) - 1, sample).astype(np.int64)]
    tolerance = np.maximum(np.abs(values), 1.0) * 1e-11
    for decimals in range(cap + 1):
        if (np.abs(np.round(values, decimals) - values) <= tolerance).all():
            return decimals
    return cap


def run_counts(summary: dict) -> dict:
    """A run summary's counts of signals and of those that did not trade, by counter name."""
    counts = {"signals": summary.get("signals"),
              "signals_dropped_invalid_stop": summary.get("signals_dropped_invalid_stop"),
              **summary.get("counters", {})}
    return {name: value for name, value in counts.items() if value is not None}


# older names kept in summaries for compatibility: shown only when their twin is missing
# (runs made before R was split into gross and net)
ALIASES = {"expectancy_r": "expectancy_r_net", "avg_r": "avg_r_net"}


def metric_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """(name, label, kind) of each metric in `metrics`, in `METRICS` order; names without a
    label follow in alphabetical order. An alias (`ALIASES`) is left out when its twin is
    there, so "Expectancy R (net)" never appears twice under two names."""
    known = [name for name in METRICS if name in metrics
             and not (name in ALIASES and ALIASES[name] in metrics)]
    extra = sorted(set(metrics) - set(METRICS))
    return [(name, *METRICS[name]) for name in known] + [(n, words(n), "number") for n in extra]


def counter_rows(counters: dict) -> list[tuple[str, str]]:
    """(name, label) of each counter in `counters`, in `COUNTER_LABELS` order."""
    known = [name for name in COUNTER_LABELS if name in counters]
    extra = sorted(set(counters) - set(COUNTER_LABELS))
    return [(name, COUNTER_LABELS[name]) for name in known] + [(n, words(n)) for n in extra]


def shown_columns(frame: pd.DataFrame, columns: tuple[Column, ...],
                  only: tuple[str, ...] | None = None) -> list[Column]:
    """The `columns` present in `frame` (those named in `only`, in that order, if given);
    columns of the frame without a `Column` follow as text."""
    by_name = {c.name: c for c in columns}
    if only is not None:
        return [by_name[n] for n in only if n in frame.columns]
    hidden = {"r_multiple"} if "r_net" in frame.columns else set()  # the same number, older name
    known = [c for c in columns if c.name in frame.columns and c.name not in hidden]
    extra = [Column(n, words(n)) for n in frame.columns
             if n not in by_name and n not in hidden and n != "reasons"]
    return known + extra


def display_values(frame: pd.DataFrame, columns: list[Column], *, tz=None) -> pd.DataFrame:
    """The values a table shows, still typed for sorting: sides and choices as words, ratios
    ×100, times in zone `tz` without their offset. Columns in `columns` order."""
    shown = {}
    for column in columns:
        values = frame[column.name]
        if column.kind == "side":
            values = values.map(CHOICES["direction"])
        elif column.kind == "choice":
            names = CHOICES.get(column.name, {})
            values = values.map(lambda v, names=names: names.get(v, v))
        elif column.kind == "ratio":
            values = values.astype(float) * 100
        elif column.kind == "time":
            values = _local(values, tz)
        elif column.kind in ("weekday", "hour"):
            values = _calendar(frame, column, tz)
        shown[column.name] = values
    return pd.DataFrame(shown, index=frame.index)


def _local(values: pd.Series, tz) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        times = pd.to_datetime(values, utc=True)
    else:  # ISO texts (run summaries), each column in one format or another
        times = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    return times.dt.tz_convert(zone(tz)).dt.tz_localize(None).dt.floor("min")


def _calendar(frame: pd.DataFrame, column: Column, tz) -> pd.Series:
    """A trade's weekday or hour in zone `tz`, from its entry time (the stored columns are
    UTC)."""
    if "entry_time" not in frame:
        return frame[column.name]
    return calendar_key(frame["entry_time"], column.kind, zone(tz))


def text_table(frame: pd.DataFrame, columns: list[Column], *, decimals: int = 2,
               tz=None) -> pd.DataFrame:
    """Every value formatted as text under its header (the HTML report's tables)."""
    return pd.DataFrame({
        header(c, tz): [format_value(v, c.kind, decimals=decimals, tz=tz, name=c.name)
                        for v in (_calendar(frame, c, tz) if c.kind in ("weekday", "hour")
                                  else frame[c.name])] for c in columns}, index=frame.index)


_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


def report_file_name(summary: dict) -> str:
    """The HTML report's file name, after the run:
    ``ita-report-<setup>@v<n>-<symbol>-<from>-<to>.html`` with only safe characters.

    >>> report_file_name({"setup_id": "sma-cross", "setup_version": 2, "symbol": "BTC/USDT",
    ...                   "data_start": "2023-03-01 00:00:00+00:00",
    ...                   "data_end": "2023-03-21 23:59:00+00:00"})
    'ita-report-sma-cross@v2-BTC-USDT-2023-03-01-2023-03-21.html'
    """
    days = [str(pd.Timestamp(summary[k]).date()) if summary.get(k) else "" for k in
            ("data_start", "data_end")]
    stem = "-".join(filter(None, [f"{summary.get('setup_id', 'run')}@v"
                                  f"{summary.get('setup_version', '')}",
                                  str(summary.get("symbol", "")), *days]))
    safe = _UNSAFE.sub("-", stem).replace("..", ".").strip("-.")[:150]
    return f"ita-report-{safe}.html"
