"""Shared UI pieces: the sidebar, number formats, error display."""

from __future__ import annotations

import contextlib
import datetime as dt

import pandas as pd
import streamlit as st

from engine.candles import TIMEFRAMES
from engine.errors import ItaError


def fmt(value, kind: str = "number") -> str:
    """One format everywhere: % with one decimal, R with two, money with thousands."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if kind == "pct":
        return f"{value:,.1f} %"
    if kind == "ratio":
        return f"{value * 100:,.1f} %"
    if kind == "r":
        return f"{value:+,.2f} R"
    if kind == "money":
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.3g}"
    if isinstance(value, int) and kind == "number":
        return f"{value:,}"
    return str(value)


METRIC_LABELS = {  # metric -> (label, format kind), in reading order
    "trades": ("Trades", "number"), "wins": ("Wins", "number"), "losses": ("Losses", "number"),
    "closed_at_data_end": ("Closed by the end of the data", "number"),
    "closed_at_window_end": ("Closed by a test window's end", "number"),
    "win_rate": ("Win rate", "ratio"), "total_profit": ("Total profit", "money"),
    "total_return_pct": ("Return", "pct"), "buy_and_hold_pct": ("Buy and hold", "pct"),
    "avg_planned_rr": ("Average planned R:R", "number"), "avg_r": ("Average R", "r"),
    "expectancy_r": ("Expectancy (R)", "r"), "expectancy_money": ("Expectancy (money)", "money"),
    "profit_factor": ("Profit factor", "number"), "max_drawdown": ("Max drawdown", "money"),
    "max_drawdown_pct": ("Max drawdown %", "pct"),
    "max_drawdown_duration": ("Longest drawdown", "text"), "sharpe": ("Sharpe", "number"),
    "sortino": ("Sortino", "number"), "sqn": ("SQN", "number"),
    "longest_win_streak": ("Longest win streak", "number"),
    "longest_loss_streak": ("Longest loss streak", "number"),
    "exposure_pct": ("Exposure", "pct"), "fees": ("Fees", "money"),
    "start": ("From", "text"), "end": ("To", "text"), "bars": ("Bars", "number"),
}


def breakdown_columns() -> dict:
    """Column formats for a breakdown table (`engine.backtest.metrics.breakdown`)."""
    number = st.column_config.NumberColumn
    return {"trades": number("trades", format="%d"),
            "win_rate": number("win rate", format="percent"),
            "total_r": number("total R", format="%+.2f R"),
            "avg_r": number("average R", format="%+.2f R"),
            "pnl": number("PnL", format="%.2f"),
            "profit_factor": number("profit factor", format="%.2f")}


def metrics_table(metrics_by_column: dict[str, dict]) -> pd.DataFrame:
    """Formatted metrics, one column per run (or version), one labelled row per metric."""
    names = list(METRIC_LABELS) + sorted({k for m in metrics_by_column.values() for k in m}
                                         - set(METRIC_LABELS))
    rows = {METRIC_LABELS.get(name, (name, "number"))[0]: {
        column: fmt(metrics.get(name), METRIC_LABELS.get(name, (name, "number"))[1])
        for column, metrics in metrics_by_column.items()} for name in names}
    return pd.DataFrame.from_dict(rows, orient="index")


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
