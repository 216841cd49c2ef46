"""Chart sections of the Setups and Backtest pages: the price chart (`engine.charts`) over a
table of signals or trades; selecting a row, or Previous / Next, jumps the chart to it.

Detections are cached with `st.cache_data` by (home, setup version, symbol, range, candle files'
mtime); a rerun that changes nothing else only rebuilds the figure (tens of milliseconds).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import state
from app.plotly_view import plotly_view
from app.ui import price_decimals, signals_table, trades_table, user_errors
from engine.adapters.store import CandleStore
from engine.candles import timeframe_delta
from engine.charts import (
    PriceChart,
    signal_boxes,
    signals_not_taken,
    trade_boxes,
    window_around,
)
from engine.errors import ItaError
from engine.pipeline import detect_setup
from engine.setups.store import SetupStore
from engine.timezones import parse_timezone

TIME_ZONES = ["UTC", "Europe/London", "Europe/Berlin", "Europe/Moscow", "America/New_York",
              "America/Chicago", "Asia/Dubai", "Asia/Singapore", "Asia/Tokyo",
              "Australia/Sydney"]
CONTEXT = {"sessions": "Sessions (Asia range, London and New York)",
           "day": "Previous day high/low", "week": "Previous week high/low"}
FOCUS_WINDOW = 1000  # bars sent around a focused row: room to pan, a third of a full draw
PLOTLY_CONFIG = {"scrollZoom": True, "displaylogo": False,
                 "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}


def time_zone(prefix: str) -> str:
    """The trader's time zone for the chart and its table: ITA_DISPLAY_TZ (default UTC), changeable
    here for this chart."""
    default = state.settings().display_tz
    zones = TIME_ZONES if default in TIME_ZONES else [default, *TIME_ZONES]
    zone = st.selectbox("Time zone", zones, index=zones.index(default), key=f"{prefix}_tz")
    try:
        parse_timezone(zone, field="time zone")
    except ItaError as error:
        st.error(str(error))
        return "UTC"
    return zone


@st.cache_data(show_spinner=False, max_entries=8)
def _setup_detection(home: str, stamp: float, ref: str, symbol: str, start, end) -> dict:
    """Everything the setup chart draws, computed once per (version, data, range)."""
    from engine.detect import detect_previous_levels, detect_sessions

    root = Path(home)
    found = detect_setup(ref, symbol=symbol, start=start, end=end,
                         candle_store=CandleStore(root / "data" / "candles"),
                         setup_store=SetupStore(root / "setups"), with_detections=True,
                         explain=False)  # the chart and its table show no reasons
    candles = found.candles
    return {"candles": candles, "timeframe": found.version.setup.market.timeframe,
            "signals": found.signals.drop(columns=["reasons"]), "dropped": found.dropped,
            "detections": found.detections, "symbol": found.symbol,
            "context": {"sessions": detect_sessions(candles,
                                                    sessions=["asia", "london", "new_york"]),
                        "day": detect_previous_levels(candles, period="day"),
                        "week": detect_previous_levels(candles, period="week")}}


def _candle_stamp() -> float:
    store = state.candle_store()
    return state._stamp(store.root, "*/*/*.parquet")


def focused_row(prefix: str, count: int) -> int | None:
    """The row the chart is on: the row just selected in the table, else the one Previous /
    Next moved to; None for the whole range."""
    picked = st.session_state.get(f"{prefix}_rows")
    rows = list(picked["selection"]["rows"]) if picked else []
    if rows != st.session_state.get(f"{prefix}_seen"):
        st.session_state[f"{prefix}_seen"] = rows
        if rows:
            st.session_state[f"{prefix}_focus"] = rows[0]
    focus = st.session_state.get(f"{prefix}_focus")
    return focus if focus is not None and 0 <= focus < count else None


def _step(prefix: str, step: int, count: int) -> None:
    current = st.session_state.get(f"{prefix}_focus")
    start = -1 if step > 0 else count
    st.session_state[f"{prefix}_focus"] = min(max((start if current is None else current)
                                                  + step, 0), count - 1)


def navigator(prefix: str, count: int, noun: str) -> None:
    """Previous / Next / Whole range buttons for the focused row."""
    left, mid, right, _ = st.columns([1, 1, 1, 3])
    left.button(f"◀ Previous {noun}", key=f"{prefix}_prev", disabled=not count,
                on_click=_step, args=(prefix, -1, count))
    mid.button(f"Next {noun} ▶", key=f"{prefix}_next", disabled=not count,
               on_click=_step, args=(prefix, 1, count))
    right.button("Whole range", key=f"{prefix}_all",
                 on_click=lambda: st.session_state.update({f"{prefix}_focus": None}))


def _chart(candles, timeframe, boxes, focus, tz, title) -> PriceChart:
    if focus is None:
        return PriceChart(candles, timeframe, tz=tz, title=title)
    row = boxes.iloc[focus]
    around = window_around(candles, row["start"], row["end"], max_candles=FOCUS_WINDOW)
    return PriceChart(around, timeframe, tz=tz, title=title)


def _zoom(chart: PriceChart, boxes: pd.DataFrame, focus: int | None) -> dict | None:
    """Zoom `chart` to the focused row's bars, its price axis fitted to them and to the plan;
    returns the plan the browser keeps in the price axis while its bars are visible."""
    if focus is None:
        return None
    row = boxes.iloc[focus]
    prices = (row["entry"], row["stop"], row["target"])
    chart.focus(row["start"], row["end"], prices=prices)
    start, end = chart.x([row["start"], row["end"]])
    return {"x0": start, "x1": end, "prices": list(prices)}


def draw(chart: PriceChart, *, key: str, plan: dict | None) -> None:
    """The chart in a container keyed `key`, drawn by `plotly_view`: its price axis refits to
    the visible bars while the trader pans and zooms."""
    with st.container(key=key):
        plotly_view(chart.figure, key=f"{key}_view", config=PLOTLY_CONFIG, plan=plan)


@st.fragment
def setup_chart(setup_id: str, version: int, choice: dict) -> None:
    """The Setups page's chart: detections, context and signals, with the signal table. A
    fragment: choosing a signal row or Previous/Next reruns the chart, not the whole page."""
    with user_errors():
        _setup_chart(setup_id, version, choice)


def _setup_chart(setup_id: str, version: int, choice: dict) -> None:
    ref = f"{setup_id}@{version}"
    home = str(state.settings().home)
    c1, c2 = st.columns([1, 3])
    with c1:
        tz = time_zone("setups_chart")
    layers = c2.multiselect("Context", list(CONTEXT), default=["sessions", "day"],
                            format_func=CONTEXT.get, key="setups_chart_context")
    with st.spinner("Detecting…"):
        data = _setup_detection(home, _candle_stamp(), ref, choice["symbol"], choice["start"],
                                choice["end"])
    candles, signals, tf = data["candles"], data["signals"], data["timeframe"]
    boxes = signal_boxes(candles, signals)
    prefix = "setups_signals"
    focus = focused_row(prefix, len(signals))
    chart = _chart(candles, tf, boxes, focus, tz, f"{setup_id} v{version} · {data['symbol']}")
    for layer in layers:
        chart.add_detections(layer, data["context"][layer])
    for name, frame in data["detections"].items():
        chart.add_detections(name, frame)
    chart.add_signal_boxes(boxes)
    draw(chart, key="setups_chart", plan=_zoom(chart, boxes, focus))
    navigator(prefix, len(signals), "signal")
    st.caption(f"{len(signals)} signals; {data['dropped']} dropped for a stop on the wrong side "
               "of the entry. Select a row to see it on the chart.")
    st.dataframe(**signals_table(signals, decimals=price_decimals(candles), tz=tz),
                 width="stretch", key=f"{prefix}_rows", on_select="rerun",
                 selection_mode="single-row")


@st.fragment
def run_chart(summary: dict, trades: pd.DataFrame) -> None:
    """The Backtest page's chart of a run: its candles with every trade as a position box,
    over the trade table; a selected trade is zoomed to its bars. A fragment: opening a trade
    reruns the chart, not the whole page."""
    with user_errors():
        _run_chart(summary, trades)


def _run_chart(summary: dict, trades: pd.DataFrame) -> None:
    prefix = "backtest_trades"
    tz = time_zone("backtest_chart")
    tf = summary["timeframe"]
    end = pd.Timestamp(summary["data_end"]) + timeframe_delta(tf)
    candles = state.candles(summary["symbol"], tf, summary["data_start"], end)
    if candles.empty:
        st.info("The candles of this run are no longer stored.")
        return
    boxes = trade_boxes(trades)
    focus = focused_row(prefix, len(trades))
    chart = _chart(candles, tf, boxes, focus, tz,
                   f"{summary['setup_id']} v{summary['setup_version']} · {summary['symbol']}")
    signals = state.run_store().frame(summary["run_id"], "signals")
    chart.add_run_boxes(trades, signal_boxes(candles, signals_not_taken(signals, trades)))
    draw(chart, key="backtest_run_chart", plan=_zoom(chart, boxes, focus))
    navigator(prefix, len(trades), "trade")
    st.dataframe(**trades_table(trades, decimals=price_decimals(candles), tz=tz),
                 width="stretch", key=f"{prefix}_rows", on_select="rerun",
                 selection_mode="single-row")
