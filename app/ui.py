"""Shared UI pieces: the sidebar, number formats, error display."""

from __future__ import annotations

import contextlib
import datetime as dt

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
    return str(value)


@contextlib.contextmanager
def user_errors():
    """Show an ItaError as a message on the page; anything else is a bug and propagates."""
    try:
        yield
    except ItaError as error:
        st.error(str(error))


def sidebar(series) -> dict:
    """Analyst, symbol, timeframe and date range, kept across pages (keys prefixed global_)."""
    from app.state import settings

    st.sidebar.markdown("### ITA")
    st.sidebar.caption(f"analyst: **{settings().analyst}**")
    symbols = sorted(series["symbol"].unique()) if len(series) else ["BTC/USDT"]
    default = symbols.index("BTC/USDT") if "BTC/USDT" in symbols else 0
    symbol = st.sidebar.selectbox("Symbol", symbols, index=default, key="global_symbol")
    timeframes = list(TIMEFRAMES)
    timeframe = st.sidebar.selectbox("Timeframe", timeframes, index=timeframes.index("15m"),
                                     key="global_timeframe")
    rows = series[series["symbol"] == symbol] if len(series) else series
    if len(rows):
        first, last = rows["first"].min().date(), rows["last"].max().date()
    else:
        first = last = dt.date.today()
    start = st.sidebar.date_input("From", value=first, min_value=first, max_value=last,
                                  key="global_start")
    end = st.sidebar.date_input("To", value=last, min_value=first, max_value=last,
                                key="global_end")
    return {"symbol": symbol, "timeframe": timeframe, "start": str(start),
            "end": str(end + dt.timedelta(days=1))}
