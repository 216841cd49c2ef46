"""Journal: analytics over every historical trade of a setup version, the way trade journals
show them."""

import plotly.express as px
import streamlit as st

from app import state
from app.ui import breakdown_columns, sidebar, user_errors
from engine.backtest.metrics import breakdown

sidebar(state.series())
st.title("Journal")
runs = state.runs()
if not len(runs):
    st.info("No runs yet: run a backtest first.")
    st.stop()
run_id = st.selectbox("Run", runs["run_id"].tolist(), key="journal_run")
with user_errors():
    trades = state.run_store().frame(run_id, "trades")
    if trades.empty:
        st.info("This run has no trades.")
        st.stop()
    left, right = st.columns(2)
    left.plotly_chart(px.histogram(trades, x="r_multiple", nbins=40,
                                   title="R-multiple distribution"), key="journal_hist")
    right.plotly_chart(px.scatter(trades, x="mae_r", y="mfe_r", color="exit_reason",
                                  title="MFE vs MAE (R)"), key="journal_scatter")
    for by in ("session", "weekday", "hour", "week", "month", "direction"):
        st.markdown(f"**By {by}**")
        st.dataframe(breakdown(trades, by), width="stretch",
                     column_config=breakdown_columns())
