"""Data: import candle files, see coverage and gaps, chart any range, delete or rename a series.

The actions run before the sidebar is drawn, so the sidebar lists what they changed at once."""

import streamlit as st

from app import data_ui, state
from app.ui import sidebar

series = state.series()
st.title("Data")

if data_ui.import_form(expanded=not len(series)):
    series = state.series()
coverage = st.container()
if data_ui.manage_form(series):
    series = state.series()
choice = sidebar(series)

with coverage:
    st.subheader("Coverage")
    if not len(series):
        st.info("The store is empty.")
        st.stop()
    st.dataframe(series, hide_index=True, width="stretch")

data_ui.series_detail(series, choice)
