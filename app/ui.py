"""Shared UI pieces: the sidebar, number formats, error display."""

from __future__ import annotations

import contextlib
import datetime as dt

import pandas as pd
import streamlit as st

from engine.backtest import presentation as view
from engine.candles import TIMEFRAMES
from engine.errors import ItaError


def fmt(value, kind: str = "number") -> str:
    """One format everywhere (`engine.backtest.presentation`): ``48.2%``, ``+1.25 R``,
    ``1,234.50``, ``—`` for a missing value."""
    return view.format_value(value, kind, tz=display_zone())


METRIC_LABELS = view.METRICS  # metric -> (label, format kind), in reading order


def display_zone():
    """The zone the pages show times in (setting ``display_tz``, default UTC)."""
    from app.state import settings

    return settings().display_zone


def price_decimals(candles: pd.DataFrame) -> int:
    """The symbol's price precision, read from its candles' closes."""
    return view.price_decimals(candles["close"]) if len(candles) else 2


def _column(column: view.Column, *, decimals: int, tz) -> object:
    """The Streamlit column for `column`: its header, and numbers in the one format."""
    config = st.column_config
    header = view.header(column, tz)
    printf = {"count": "%,d", "number": "%,.2f", "money": "%,.2f", "size": "%,.6g",
              "r": "%+,.2f R", "ratio": "%,.1f%%", "pct": "%,.1f%%",
              "price": f"%,.{decimals}f"}.get(column.kind)
    if column.kind == "time":
        return config.DatetimeColumn(header, format="YYYY-MM-DD HH:mm")
    if printf:
        return config.NumberColumn(header, format=printf)
    return config.TextColumn(header)


def table(frame: pd.DataFrame, columns: tuple[view.Column, ...], *, decimals: int = 2,
          only: tuple[str, ...] | None = None, tz=None) -> dict:
    """Keyword arguments for `st.dataframe` showing `frame` the trader's way: labelled
    columns in a fixed order, long/short, times in the display zone without offset (the zone
    in the header), prices to `decimals`, ``—`` for missing values; numbers stay numbers, so
    columns still sort. ``st.dataframe(**table(trades, TRADE_COLUMNS, decimals=2))``.
    `tz` (a zone name or tzinfo) overrides the display zone, e.g. beside a chart."""
    tz = display_zone() if tz is None else view.zone(tz)
    shown = view.shown_columns(frame, columns, only=only)
    return {"data": view.display_values(frame, shown, tz=tz), "hide_index": True,
            "placeholder": view.MISSING,
            "column_config": {c.name: _column(c, decimals=decimals, tz=tz) for c in shown}}


def trades_table(trades: pd.DataFrame, *, decimals: int = 2, tz=None) -> dict:
    """`table` for a run's trades (`st.dataframe(**trades_table(trades, decimals=d))`)."""
    return table(trades, view.TRADE_COLUMNS, decimals=decimals, tz=tz)


# how the signal contract writes a plan part that is switched off (`engine.signals`): a market
# order has no order life, a plan without a time exit or partial exit has 0 there
PLAN_OFF_VALUES = {"expiry_bars": 0, "time_exit_bars": 0, "partial_fraction": 0.0}


def plan_parts_off(signals: pd.DataFrame) -> pd.DataFrame:
    """`signals` with every switched-off plan part missing, so a table shows ``—`` for it
    (never ``0`` bars or ``0.0%``): the `PLAN_OFF_VALUES`, and a partial size without a
    partial level. Breakeven, partial level and target are already NaN when off."""
    shown = signals.copy()
    for name, off in PLAN_OFF_VALUES.items():
        if name in shown.columns:
            values = shown[name]
            if pd.api.types.is_integer_dtype(values):
                values = values.astype("Int64")
            shown[name] = values.mask(values == off)
    if {"partial_fraction", "partial_r"} <= set(shown.columns):
        shown["partial_fraction"] = shown["partial_fraction"].mask(shown["partial_r"].isna())
    return shown


def signals_table(signals: pd.DataFrame, *, decimals: int = 2, tz=None) -> dict:
    """`table` for a setup's signals; a plan part that is off reads ``—``."""
    return table(plan_parts_off(signals), view.SIGNAL_COLUMNS, decimals=decimals, tz=tz)


def runs_table(runs: pd.DataFrame) -> dict:
    """The list of runs (`RunStore.list`) as the Runs page shows it: the name and the key
    metrics, sized to fit without scrolling sideways (`app.runs_ui.overview`)."""
    from app.runs_ui import overview

    return overview(runs)


def breakdown_table(frame: pd.DataFrame, by: str, *, tz=None) -> dict:
    """`table` for a breakdown (`engine.backtest.metrics.breakdown`, computed in zone `tz`;
    None: the display zone), its groups first; a calendar group's header names the zone."""
    tz = display_zone() if tz is None else view.zone(tz)
    return table(frame.rename_axis(by).reset_index(),
                 (view.breakdown_column(by, tz), *view.BREAKDOWN_COLUMNS), tz=tz)


def metrics_table(metrics_by_column: dict[str, dict]) -> pd.DataFrame:
    """Formatted metrics, one column per run (or version), one labelled row per metric, in
    the fixed order of `engine.backtest.presentation.METRICS`."""
    union = {name: None for metrics in metrics_by_column.values() for name in metrics}
    tz = display_zone()
    rows = {label: {column: view.format_value(metrics.get(name), kind, tz=tz)
                    for column, metrics in metrics_by_column.items()}
            for name, label, kind in view.metric_rows(union)}
    return pd.DataFrame.from_dict(rows, orient="index")


def counters_table(summary: dict) -> pd.DataFrame:
    """A run's counters under their labels: every signal that did not become a trade, and
    why (one column, ``count``)."""
    counts = view.run_counts(summary)
    return pd.DataFrame({"count": [view.format_value(counts[name], "count")
                                   for name, _ in view.counter_rows(counts)]},
                        index=[label for _, label in view.counter_rows(counts)])


def stop_if_empty(items, message: str) -> None:
    """End the page with `message` when there is nothing to show yet (no setups, no runs)."""
    if not len(items):
        st.info(message)
        st.stop()


def show_error(error: ItaError) -> None:
    """An ItaError as a red box; a message of several lines (every problem of a setup) keeps
    one problem per line."""
    st.error("  \n".join(str(error).splitlines()))


@contextlib.contextmanager
def user_errors():
    """Show an ItaError as a message on the page; anything else is a bug and propagates."""
    try:
        yield
    except ItaError as error:
        show_error(error)


def kill_banner() -> None:
    """The paper kill switch's banner, on every page while it is on (`engine.paper.kill`:
    one small file read)."""
    from app.state import settings
    from engine.paper import kill

    try:
        line = kill.banner(kill.state(settings()), tz=settings().display_zone)
    except ItaError as error:  # a switch that cannot be read may be on: say so
        show_error(error)
        return
    if line:
        st.error(line, icon=":material/block:")


SIDEBAR_KEYS = ("global_symbol", "global_timeframe", "global_start", "global_end")


def sidebar(series, *, market: bool = True, timeframe: bool = True) -> dict:
    """Analyst, and the symbol, timeframe and date range the page works on (keys `global_*`),
    kept for the whole session across pages, even pages that do not show them.

    A page shows only what it honours: `timeframe=False` where each setup fixes its own
    (Setups, Editor), `market=False` where the page reads no candles (Home, Settings, Runs) or
    has its own choice (Backtest's form). The returned dict always holds all four choices:
    the ones shown, else the last ones made (`start` inclusive, `end` exclusive, as text).
    """
    from app.state import settings

    kill_banner()  # on every page while the paper kill switch is on
    st.sidebar.markdown("### ITA")
    st.sidebar.caption(f"analyst: **{settings().analyst}**")
    symbols = sorted(series["symbol"].unique()) if len(series) else ["BTC/USDT"]
    remembered = st.session_state.get("global_symbol")
    default = (remembered if remembered in symbols else
               "BTC/USDT" if "BTC/USDT" in symbols else symbols[0])
    if not market:
        return _choice(series, default, st.session_state.get("global_timeframe", "15m"),
                       st.session_state.get("global_start"), st.session_state.get("global_end"))
    symbol = st.sidebar.selectbox("Symbol", symbols, index=symbols.index(default),
                                  key="global_symbol", persist_state="session")
    timeframes = list(TIMEFRAMES)
    if timeframe:
        chosen_tf = st.sidebar.selectbox("Timeframe", timeframes, index=timeframes.index("15m"),
                                         key="global_timeframe", persist_state="session")
    else:
        chosen_tf = st.session_state.get("global_timeframe", "15m")
        st.sidebar.caption("Timeframe: each setup's own (`market.timeframe`).")
    first, last = symbol_range(series, symbol)
    start = st.sidebar.date_input("From", value=first, min_value=first, max_value=last,
                                  key="global_start", persist_state="session")
    end = st.sidebar.date_input("To", value=last, min_value=first, max_value=last,
                                key="global_end", persist_state="session")
    return _choice(series, symbol, chosen_tf, start, end)


def sidebar_defaults(series) -> dict:
    """The choice `sidebar` returns to a new session that has chosen nothing yet (what the
    server's warm-up prepares the pages' loaders for)."""
    symbols = sorted(series["symbol"].unique()) if len(series) else ["BTC/USDT"]
    return _choice(series, "BTC/USDT" if "BTC/USDT" in symbols else symbols[0], "15m", None,
                   None)


def symbol_range(series, symbol: str) -> tuple[dt.date, dt.date]:
    """First and last day stored for `symbol` (today for an unknown symbol)."""
    rows = series[series["symbol"] == symbol] if len(series) else series
    if not len(rows):
        return dt.date.today(), dt.date.today()
    return rows["first"].min().date(), rows["last"].max().date()


def _choice(series, symbol: str, timeframe: str, start, end) -> dict:
    first, last = symbol_range(series, symbol)
    start = start if isinstance(start, dt.date) and first <= start <= last else first
    end = end if isinstance(end, dt.date) and start <= end <= last else last
    return {"symbol": symbol, "timeframe": timeframe, "start": str(start),
            "end": str(end + dt.timedelta(days=1))}
