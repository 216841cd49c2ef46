"""Data: import candle files, see coverage and gaps, chart any range."""

import tempfile
from pathlib import Path

import streamlit as st

from app import state
from app.charts import candle_figure
from app.ui import sidebar, user_errors
from engine.adapters.importers import import_file
from engine.candles import TIMEFRAMES

series = state.series()
choice = sidebar(series)
st.title("Data")

with st.expander("Import candles", expanded=not len(series)):
    upload = st.file_uploader("Candle file (CSV / MT5 export)", key="data_upload")
    path_text = st.text_input("…or a path on this machine", key="data_path")
    col1, col2, col3, col4 = st.columns(4)
    symbol = col1.text_input("Symbol", value="EURUSD", key="data_symbol")
    timeframe = col2.selectbox("Timeframe", list(TIMEFRAMES), key="data_timeframe")
    fmt_choice = col3.selectbox("Format", ["auto", "binance", "mt5", "csv"], key="data_format")
    tz = col4.text_input("Time zone of the file (MT5: broker server zone)", value="",
                         key="data_tz", help="e.g. Europe/Athens or +02:00; empty = UTC")
    if st.button("Import", key="data_import", type="primary"):
        with user_errors():
            if upload is not None:
                folder = Path(tempfile.mkdtemp())
                source_path = folder / Path(upload.name).name
                source_path.write_bytes(upload.getvalue())
            elif path_text:
                source_path = Path(path_text).expanduser()
            else:
                source_path = None
                st.error("Choose a file to upload or give a path.")
            if source_path is not None:
                bar = st.progress(0.0, text="reading")
                report = import_file(source_path, symbol=symbol, timeframe=timeframe,
                                     store=state.candle_store(), tz=tz or None,
                                     format=fmt_choice,
                                     progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
                st.success(f"{report.rows:,} bars of {report.symbol} {report.timeframe}: "
                           f"{report.added:,} added, {report.replaced:,} corrected, "
                           f"{report.unchanged:,} unchanged.")
                st.cache_data.clear()
                series = state.series()

st.subheader("Coverage")
if not len(series):
    st.info("The store is empty.")
    st.stop()
st.dataframe(series, hide_index=True, width="stretch")

with user_errors():
    row = series[series["symbol"] == choice["symbol"]].iloc[0]
    gaps = state.candle_store().gaps(row["symbol"], row["timeframe"], source=row["source"])
    st.caption(f"{row['symbol']} {row['timeframe']} ({row['source']}): {len(gaps)} gap(s)")
    if len(gaps):
        st.dataframe(gaps, hide_index=True)
    candles = state.candles(choice["symbol"], choice["timeframe"], choice["start"],
                            choice["end"])
    st.plotly_chart(candle_figure(candles, choice["timeframe"],
                                  title=f"{choice['symbol']} {choice['timeframe']}"),
                    key="data_chart")
