"""Runs: every backtest, side by side; equity overlay; SQL over all runs."""

import pandas as pd
import streamlit as st

from app import state
from app.ui import metrics_table, runs_table, sidebar, stop_if_empty, user_errors

sidebar(state.series())
st.title("Runs")
runs = state.runs()
stop_if_empty(runs, "No runs yet: run a backtest first.")
st.dataframe(**runs_table(runs), width="stretch")
chosen = st.multiselect("Compare runs", runs["run_id"].tolist(),
                        default=runs["run_id"].tolist()[:2], key="runs_compare")
if chosen:
    store = state.run_store()
    st.dataframe(metrics_table({r: store.summary(r)["metrics"] for r in chosen}),
                 width="stretch")
    curves = pd.DataFrame({r: store.frame(r, "equity")["equity"].reset_index(drop=True)
                           for r in chosen})
    st.line_chart(curves.iloc[:: max(1, len(curves) // 3000)])

st.subheader("Query all runs (DuckDB)")
sql = st.text_area("One read-only SELECT over the views trades, equity, signals and summaries "
                   "(each has run_id)",
                   "SELECT run_id, setup_id, setup_version, count(*) AS trades,\n"
                   "       avg(r_multiple) AS avg_r\nFROM trades GROUP BY ALL ORDER BY avg_r DESC",
                   key="runs_sql")
if st.button("Run query", key="runs_query"):
    with user_errors():
        st.dataframe(state.run_store().query(sql), hide_index=True, width="stretch")
