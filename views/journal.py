"""Journal: every trade of a setup version with the analyst's notes, tags, mistakes and
screenshots; filters by tag, mistake, session, weekday and side; a P&L calendar; analytics;
one version of the setup against another."""

import datetime as dt

import streamlit as st

from app import state
from app.journal_ui import (
    annotate_form,
    entries,
    filters,
    journal_store,
    trade_label,
    trades_table,
    untraded_section,
    version_label,
)
from app.runs_ui import calendar_colours, equity_overlay, key_metrics, run_names
from app.ui import (
    breakdown_table,
    display_zone,
    fmt,
    show_error,
    sidebar,
    stop_if_empty,
    user_errors,
)
from engine.backtest.metrics import BREAKDOWNS, breakdown, calendar_key
from engine.backtest.report import mfe_mae_figure, r_histogram
from engine.errors import ItaError
from engine.journal import TradeKey, calendar_month, filter_trades, journal_frame, pnl_calendar

sidebar(state.series(), market=False)
st.title("Journal")
runs = state.runs()
stop_if_empty(runs, "No runs yet: run a backtest first.")
names = run_names(runs)
for key in ("journal_run", "journal_run_a", "journal_run_b"):  # a run deleted meanwhile
    if st.session_state.get(key) not in (None, *names):
        del st.session_state[key]

pick_setup, pick_version, pick_run = st.columns([2, 1, 3])
setup_id = pick_setup.selectbox("Setup", sorted(runs["setup_id"].unique()), key="journal_setup")
of_setup = runs[runs["setup_id"] == setup_id]
versions = sorted(of_setup["setup_version"].unique(), reverse=True)
active = state.setup_store().active(setup_id)
version = pick_version.selectbox("Version", versions, key="journal_version",
                                 format_func=lambda n: version_label(n, active))
of_version = of_setup[of_setup["setup_version"] == version]["run_id"].tolist()
run_id = pick_run.selectbox("Run", of_version, format_func=names.get, key="journal_run",
                            help="Notes belong to the trade idea (setup, version, symbol, "
                                 "signal time, side): every run of this version shows them")
if saved := st.session_state.pop("journal_saved", None):
    st.success(f"Saved to your journal ({saved}).")

store = journal_store()
trades = state.run_store().frame(run_id, "trades")
try:
    journal = entries(store, setup_id, version)
    frame = journal_frame(trades, journal)
except ItaError as error:  # an entry file edited by hand that no longer validates
    show_error(error)
    st.stop()
if trades.empty:
    st.info("This run has no trades.")
    with user_errors():
        untraded_section(store, state.run_store().frame(run_id, "signals"), trades, journal,
                         run_id=run_id)
    st.stop()
frame["weekday"] = calendar_key(frame["entry_time"], "weekday", display_zone())  # as shown
chosen = filters(frame)
shown = filter_trades(frame, **chosen)
journaled = int((frame["note"].ne("") | frame["tags"].map(bool) | frame["mistakes"].map(bool)
                 | frame["screenshots"].gt(0)).sum())
st.caption(f"{len(shown)} of {len(frame)} trades · {journaled} journaled · your journal: "
           f"{store.root}")

# only the open tab is built: the analytics charts and breakdowns were most of a rerun's work
tab_trades, tab_signals, tab_calendar, tab_analytics, tab_versions = st.tabs(
    ["Trades", "Signals not traded", "P&L calendar", "Analytics", "Version against version"],
    key="journal_tabs", on_change="rerun")

if tab_trades.open:
    with tab_trades:
        st.dataframe(**trades_table(shown), width="stretch")
        st.subheader("Journal a trade")
        rows = list(frame.itertuples())
        picked = st.selectbox("Trade", range(len(rows)), key="journal_trade",
                              format_func=lambda i: trade_label(rows[i]) if i < len(rows) else "")
        row = rows[picked]
        key = TradeKey(row.setup_id, row.setup_version, row.symbol, row.signal_time, row.direction)
        with user_errors():
            annotate_form(store, key, store.get(row.entry_id), entry_id=row.entry_id, run_id=run_id)

if tab_signals.open:
    with tab_signals, user_errors():
        untraded_section(store, state.run_store().frame(run_id, "signals"), trades, journal,
                         run_id=run_id)

if tab_calendar.open:
    with tab_calendar:
        daily = pnl_calendar(shown, display_zone())
        if daily.empty:
            st.info("No closed trades in this selection.")
        else:
            months = sorted({(d.year, d.month) for d in daily.index})
            year, month = st.selectbox("Month", months, index=len(months) - 1,
                                       format_func=lambda m: f"{dt.date(m[0], m[1], 1):%B %Y}",
                                       key="journal_month")
            cells = st.columns(4)
            cells[0].metric("Days traded", f"{len(daily)}")
            cells[1].metric("Green / red days",
                            f"{int((daily['pnl'] > 0).sum())} / {int((daily['pnl'] < 0).sum())}")
            cells[2].metric("Total R", fmt(float(daily["r"].sum()), "r"))
            cells[3].metric("Total P&L", fmt(float(daily["pnl"].sum()), "money"))
            grid = calendar_month(daily, year, month)
            st.dataframe(grid.style.map(calendar_colours), width="stretch")
            st.caption(f"A trade counts on the day it closed ({display_zone()}): day, R, money.")

if tab_analytics.open:
    with tab_analytics:
        if shown.empty:
            st.info("No trades match the filters.")
        else:
            left, right = st.columns(2)
            left.plotly_chart(r_histogram(shown), key="journal_hist")
            right.plotly_chart(mfe_mae_figure(shown), key="journal_scatter")
            for by in BREAKDOWNS:
                st.markdown(f"**By {by}**")
                st.dataframe(**breakdown_table(breakdown(shown, by, tz=display_zone()), by),
                             width="stretch")

if tab_versions.open:
    with tab_versions:
        if len(versions) < 2:
            st.info(f"Only version {version} of {setup_id} has runs: backtest another version to "
                    "compare them.")
        else:
            side = st.columns(2)
            picks = []
            for col, slot, default in ((side[0], "a", 1), (side[1], "b", 0)):
                v = col.selectbox(f"Version {slot.upper()}", versions, index=default,
                                  format_func=lambda n: version_label(n, active),
                                  key=f"journal_version_{slot}")
                ids = of_setup[of_setup["setup_version"] == v]["run_id"].tolist()
                picks.append((v, col.selectbox("Run", ids, format_func=names.get,
                                               key=f"journal_run_{slot}")))
            run_store = state.run_store()
            with user_errors():
                columns = {f"v{v} · {names[r]}": r for v, r in picks}
                st.dataframe(key_metrics({c: run_store.summary(r)["metrics"]
                                          for c, r in columns.items()}), width="stretch")
                st.plotly_chart(equity_overlay({c: run_store.frame(r, "equity")["equity"]
                                                for c, r in columns.items()}, normalised=True),
                                key="journal_versions_equity")
