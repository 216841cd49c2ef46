"""The Data page's parts: import a candle file (confirming the timeframe its bars show), delete
a series (only once a box is ticked), rename a symbol, and the gaps and chart of one series.

Each action calls the one engine implementation (`import_file`, `CandleStore.delete`,
`CandleStore.rename`), returns True when the store changed, and then forgets the cached series
listing, so the page (and its sidebar, drawn after the actions) lists the change in the same
run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from app.charts import PLAIN_CANDLES, candle_figure
from app.ui import show_error, user_errors
from engine.adapters.importers import TimeframeMismatch, import_file
from engine.adapters.store import CandleStore
from engine.candles import TIMEFRAMES
from engine.errors import ItaError

PENDING = "data_pending_import"  # session key: a file whose timeframe waits for confirmation
FORMATS = ["auto", "binance", "mt5", "csv"]


# --- import -----------------------------------------------------------------------------------

def import_form(*, expanded: bool) -> bool:
    """The import expander; True when bars were stored."""
    with st.expander("Import candles", expanded=expanded or PENDING in st.session_state):
        upload = st.file_uploader("Candle file (CSV / MT5 export)", key="data_upload")
        path_text = st.text_input("…or a path on this machine", key="data_path")
        col1, col2, col3, col4 = st.columns(4)
        options = {
            "symbol": col1.text_input("Symbol", value="EURUSD", key="data_symbol"),
            "timeframe": col2.selectbox("Timeframe", list(TIMEFRAMES), key="data_timeframe"),
            "format": col3.selectbox("Format", FORMATS, key="data_format"),
            "tz": col4.text_input("Time zone of the file (MT5: broker server zone)", value="",
                                  key="data_tz", help="e.g. Europe/Athens or +02:00; "
                                                      "empty = UTC") or None,
        }
        if st.button("Import", key="data_import", type="primary"):
            _discard(st.session_state.pop(PENDING, None))
            chosen = _chosen_file(upload, path_text)
            if chosen is None:
                st.error("Choose a file to upload or give a path.")
                return False
            return _import({**options, **chosen})
        if PENDING in st.session_state:
            return _confirm_timeframe(st.session_state[PENDING])
    return False


def _chosen_file(upload, path_text: str) -> dict | None:
    if upload is not None:
        path = Path(tempfile.mkdtemp(prefix="ita-upload-")) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        return {"path": str(path), "temporary": True}
    if path_text.strip():
        return {"path": str(Path(path_text.strip()).expanduser()), "temporary": False}
    return None


def _import(request: dict) -> bool:
    """Import `request` (path, symbol, timeframe, format, tz, temporary); a timeframe the bars
    contradict is kept in the session to be confirmed."""
    bar = st.progress(0.0, text="reading")
    try:
        report = import_file(request["path"], symbol=request["symbol"],
                             timeframe=request["timeframe"], store=state.candle_store(),
                             tz=request["tz"], format=request["format"],
                             progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
    except TimeframeMismatch as mismatch:
        bar.empty()
        st.session_state[PENDING] = {**request, "spacing": mismatch.spacing,
                                     "suggested": mismatch.suggested}
        _confirm_timeframe(st.session_state[PENDING])
        return False
    except ItaError as error:
        bar.empty()
        show_error(error)
        _discard(request)
        return False
    bar.empty()
    _discard(request)
    st.success(f"{report.rows:,} bars of {report.symbol} {report.timeframe}: "
               f"{report.added:,} added, {report.replaced:,} corrected, "
               f"{report.unchanged:,} unchanged.")
    state.candles_changed()
    return True


def _confirm_timeframe(pending: dict) -> bool:
    """Ask whether to import the file at the timeframe its bars show."""
    name = Path(pending["path"]).name
    found = (f"{name}: its bars are {pending['spacing']} apart, but the timeframe chosen is "
             f"{pending['timeframe']}.")
    if pending["suggested"] is None:
        st.error(f"{found} ITA's timeframes are {', '.join(TIMEFRAMES)}: export the file in "
                 "one of them.")
        _discard(st.session_state.pop(PENDING, None))
        return False
    box = st.empty()
    with box.container():
        st.warning(f"{found} Import it as {pending['suggested']}?")
        col1, col2 = st.columns(2)
        confirm = col1.button(f"Import as {pending['suggested']}", key="data_import_inferred",
                              type="primary")
        cancel = col2.button("Cancel", key="data_import_cancel")
    if not (confirm or cancel):
        return False
    box.empty()
    st.session_state.pop(PENDING, None)
    if cancel:
        _discard(pending)
        return False
    return _import({**pending, "timeframe": pending["suggested"]})


def _discard(request: dict | None) -> None:
    """Remove an uploaded file's temporary copy (a path the trader gave is never touched)."""
    if request and request.get("temporary"):
        shutil.rmtree(Path(request["path"]).parent, ignore_errors=True)


# --- delete and rename ------------------------------------------------------------------------

def manage_form(series: pd.DataFrame) -> bool:
    """Delete a series or rename a symbol; True when the store changed."""
    with st.expander("Delete or rename", expanded=False):
        if not len(series):
            st.caption("Nothing is stored.")
            return False
        left, right = st.columns(2)
        with left:
            deleted = _delete_form(series)
        with right:
            renamed = _rename_form(series)
    return deleted or renamed


def series_label(row) -> str:
    return f"{row['symbol']} {row['timeframe']} ({row['source']})"


def _delete_form(series: pd.DataFrame) -> bool:
    st.markdown("**Delete a series**")
    rows = {series_label(row): row for _, row in series.iterrows()}
    label = st.selectbox("Series", list(rows), key="data_delete_series")
    row = rows[label]
    # one box per series: ticking it for one series never arms the delete of another
    sure = st.checkbox(f"Yes, delete {label} for good ({row['bars']:,} bars)",
                       key=f"data_delete_confirm:{label}")
    if not st.button("Delete", key="data_delete", disabled=not sure):
        return False
    with user_errors():
        state.candle_store().delete(symbol=row["symbol"], timeframe=row["timeframe"],
                                    source=row["source"])
        st.success(f"Deleted {label}.")
        state.candles_changed()
        return True
    return False


def _rename_form(series: pd.DataFrame) -> bool:
    st.markdown("**Rename a symbol** (every timeframe)")
    pairs = series[["source", "symbol"]].drop_duplicates()
    names = {f"{r.symbol} ({r.source})": (r.source, r.symbol) for r in pairs.itertuples()}
    chosen = st.selectbox("Symbol", list(names), key="data_rename_from")
    new_name = st.text_input("New name", key="data_rename_to").strip()
    if not st.button("Rename", key="data_rename", disabled=not new_name):
        return False
    source, symbol = names[chosen]
    with user_errors():
        _, moved = state.candle_store().rename(symbol, to=new_name, source=source)
        st.success(f"Renamed {symbol} to {new_name} ({source}): {', '.join(moved)}.")
        state.candles_changed()
        return True
    return False


# --- one series: gaps and chart ---------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=16)
def _gaps(root: str, source: str, symbol: str, timeframe: str, last, bars: int) -> pd.DataFrame:
    """Gaps of one stored series; `last` and `bars` (from the cached listing) key the cache."""
    return CandleStore(Path(root)).gaps(symbol, timeframe, source=source)


def series_detail(series: pd.DataFrame, choice: dict) -> None:
    """Gaps of the sidebar's symbol (its stored series at the sidebar timeframe, else the first
    stored one) and the chart of the sidebar's range."""
    rows = series[series["symbol"] == choice["symbol"]]
    if not len(rows):
        st.info(f"No candles stored for {choice['symbol']}.")
        return
    same = rows[rows["timeframe"] == choice["timeframe"]]
    row = (same if len(same) else rows).iloc[0]
    with user_errors():
        # the listing already counts the missing bars: a series without any (crypto) has no
        # gaps to read (reading the series again cost ~70 ms of the page's first open)
        missing = int(row["missing"])
        gaps = _gaps(str(state.candle_store().root), row["source"], row["symbol"],
                     row["timeframe"], row["last"], int(row["bars"])) if missing else None
        st.caption(f"{series_label(row)}: {len(gaps) if missing else 0} gap(s), "
                   f"{missing:,} missing bars")
        if missing:
            st.dataframe(gaps, hide_index=True)
        st.plotly_chart(series_chart(series, choice), key="data_chart")


def series_chart(series: pd.DataFrame, choice: dict) -> go.Figure:
    """The chart of the sidebar's symbol, timeframe and range (`choice`), built once per stored
    state of the symbol: changing back to a range seen before costs nothing."""
    rows = series[series["symbol"] == choice["symbol"]]
    stamp = tuple(rows[["source", "timeframe", "last", "bars"]].itertuples(index=False))
    return _chart(str(state.candle_store().root), stamp, choice["symbol"], choice["timeframe"],
                  choice["start"], choice["end"])


@st.cache_data(show_spinner=False, max_entries=16)
def _chart(root: str, stamp: tuple, symbol: str, timeframe: str, start, end) -> go.Figure:
    """The candle chart of one range (`stamp`: its series' last bars and counts)."""
    candles = CandleStore(Path(root)).read(symbol, timeframe, start=start, end=end)
    return candle_figure(candles, timeframe, title=f"{symbol} {timeframe}",
                         max_candles=PLAIN_CANDLES)
