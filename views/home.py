"""Home: what is in the store, the engine's state, setups, latest runs, what to do next."""

import streamlit as st

from app import kb_ui, preload, state
from app.ui import display_zone, runs_table, sidebar, user_errors
from engine.live.state import heartbeat, read_live_state

series = state.series()
sidebar(series, market=False)  # the home page reads no candle range
st.title("ITA — trading setups, found and tested honestly")

with user_errors():
    setups = state.setup_store().list()
    runs = state.runs()
    engine = state.engine_state()
    a, b, c, d = st.columns(4)
    a.metric("Candle series", len(series))
    b.metric("Bars stored", f"{int(series['bars'].sum()):,}" if len(series) else "0")
    c.metric("Setups", len(setups))
    d.metric("Backtest runs", len(runs))
    if engine and engine["alive"]:
        st.success(f"Engine daemon running (pid {engine['pid']}, since {engine['started_at']}; "
                   f"{engine['jobs_done']} jobs done, {engine['queued']} queued).")
    else:
        st.warning("The engine daemon is not running: backtests from the Backtest page run "
                   "in the app instead. `make run` starts it; or run `.venv/bin/ita engine`.")
    live = read_live_state(state.settings().home)
    line = heartbeat(live, tz=display_zone())
    if live is None:
        st.info(line + " The Live page shows a demo replay meanwhile.")
    elif live.running and (live.silent_feeds or live.failing_feeds
                           or live.telegram.startswith("error")):
        telegram = f" Telegram: {live.telegram}." if live.telegram.startswith("error") else ""
        st.error(line + telegram)
    elif live.running:
        st.success(line)
    else:
        st.warning(line)
    kb_ui.home_line(state.settings())

    st.subheader("Candles in the store")
    if len(series):
        st.dataframe(series, hide_index=True, width="stretch")
    else:
        st.info("No candles yet. Import a file on the Data page, or run `ita demo`.")

    st.subheader("Active setups")
    st.dataframe([{"setup": s.id, "name": s.name, "timeframe": s.timeframe,
                   "active version": s.active, "versions": s.versions} for s in setups],
                 hide_index=True, width="stretch")

    st.subheader("Latest runs")
    if len(runs):
        st.dataframe(**runs_table(runs.head(5)), width="stretch")
    else:
        st.info("No backtests yet.")

    st.subheader("Next steps")
    st.markdown(
        "1. **Data** — import your own candles (Binance CSV, MetaTrader 5 export, any CSV).\n"
        "2. **Setups** — read the examples, see their detections on the chart, edit the YAML.\n"
        "3. **Editor** — change a setup as a node graph; saving makes a new version.\n"
        "4. **Backtest** — run a setup version; read metrics, trades and breakdowns.\n"
        "5. **Runs / Journal** — compare versions and learn which ideas work.")

preload.prefetch_flow_bundle()  # last: the Editor's canvas files, fetched after Home is drawn
