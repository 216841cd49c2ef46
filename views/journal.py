"""Journal: analytics over every historical trade of a setup version, the way trade journals
show them."""

import streamlit as st

from app import state
from app.ui import breakdown_table, sidebar, stop_if_empty, user_errors
from engine.backtest.metrics import BREAKDOWNS, breakdown
from engine.backtest.report import mfe_mae_figure, r_histogram

sidebar(state.series())
st.title("Journal")
runs = state.runs()
stop_if_empty(runs, "No runs yet: run a backtest first.")
run_id = st.selectbox("Run", runs["run_id"].tolist(), key="journal_run")
with user_errors():
    trades = state.run_store().frame(run_id, "trades")
    if trades.empty:
        st.info("This run has no trades.")
        st.stop()
    left, right = st.columns(2)
    left.plotly_chart(r_histogram(trades), key="journal_hist")
    right.plotly_chart(mfe_mae_figure(trades), key="journal_scatter")
    for by in BREAKDOWNS:
        st.markdown(f"**By {by}**")
        st.dataframe(**breakdown_table(breakdown(trades, by), by), width="stretch")
