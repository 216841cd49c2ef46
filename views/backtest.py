"""Backtest: pick a setup version, symbol, range, costs and sizing; run it through the engine
daemon (or in the app when no daemon runs); read the result."""

import datetime as dt

import streamlit as st

from app import state
from app.backtest_form import run_details, run_header, run_words
from app.chart_views import run_chart
from app.jobs_ui import follow
from app.ui import (
    breakdown_table,
    counters_table,
    display_zone,
    fmt,
    metrics_table,
    sidebar,
    stop_if_empty,
    user_errors,
)
from engine.backtest.metrics import BREAKDOWNS
from engine.backtest.presentation import report_file_name
from engine.backtest.report import (
    calendar_figure,
    mfe_mae_figure,
    monthly_heatmap,
    r_histogram,
    write_html_report,
)
from engine.backtest.run import run_backtest
from engine.backtest.simulate import Costs, Sizing

series = state.series()
choice = sidebar(series, market=False)  # symbol and range are chosen in the form below
st.title("Backtest")
store = state.setup_store()
ids = store.ids()
stop_if_empty(ids, "No setups yet: run `ita demo` to add the examples.")
stop_if_empty(series, "No candles yet: import some on the Data page, or run `ita demo`.")

# Setup and version sit outside the form so that the version list and the defaults below
# follow a new choice at once; each version has its own widgets, so its costs and risk show.
c1, c2 = st.columns(2)
setup_id = c1.selectbox("Setup", ids, key="backtest_setup")
numbers = state.version_numbers(setup_id)
active = store.active(setup_id)
version = c2.selectbox("Version", numbers, index=numbers.index(active),
                       key=f"backtest_version_{setup_id}",
                       format_func=lambda n: f"v{n}" + (" (active)" if n == active else ""))
setup = state.setup_version(setup_id, version).setup
defaults = f"{setup_id}_{version}"

with st.form("backtest_form"):
    symbols = sorted(series["symbol"].unique())
    first, last = series["first"].min().date(), series["last"].max().date()
    c3, c4, c5 = st.columns(3)
    symbol = c3.selectbox("Symbol", symbols, index=symbols.index(choice["symbol"]),
                          key="backtest_symbol", persist_state="session")
    start = c4.date_input("From", value=dt.date.fromisoformat(choice["start"]),
                          min_value=first, max_value=last, key="backtest_start",
                          persist_state="session")
    end = c5.date_input("To (inclusive)", value=dt.date.fromisoformat(choice["end"])
                        - dt.timedelta(days=1), min_value=first, max_value=last,
                        key="backtest_end", persist_state="session")
    c6, c7, c8 = st.columns(3)
    fee = c6.number_input("Fee (bps per side)", 0.0, 1000.0, float(setup.costs.fee_bps),
                          key=f"backtest_fee_{defaults}")
    slip = c7.number_input("Slippage (bps)", 0.0, 1000.0, float(setup.costs.slippage_bps),
                           key=f"backtest_slip_{defaults}")
    equity = c8.number_input("Initial equity", 100.0, 1e9, 10_000.0, key="backtest_equity")
    c9, c10 = st.columns(2)
    sizing = c9.selectbox("Sizing", ["risk_percent", "fixed_size", "fixed_cash"],
                          key="backtest_sizing", format_func={
                              "risk_percent": "Risk a % of equity per trade",
                              "fixed_size": "A fixed size (units)",
                              "fixed_cash": "A fixed cash amount per trade"}.get)
    size = c10.number_input("Risk % / units / cash", 0.0001, 1e9, float(setup.risk.percent),
                            key=f"backtest_size_{defaults}")
    st.caption(f"Timeframe: {setup.market.timeframe}, fixed by the setup.")
    submitted = st.form_submit_button("Run backtest", type="primary")

params = {"setup": f"{setup_id}@{version}", "symbol": symbol, "start": str(start),
          "end": str(end + dt.timedelta(days=1)), "fee_bps": fee, "slippage_bps": slip,
          "sizing": sizing, "size": size, "initial_equity": equity}
if submitted:
    st.session_state.pop("backtest_run", None)  # the old result gives way to the new run
    with user_errors():
        engine = state.engine_state()
        if engine and engine["alive"]:
            st.session_state["backtest_job"] = state.job_bus().submit("backtest", params)
        else:
            st.caption(f"Running {run_words(params)} in the app (no engine daemon).")
            bar = st.progress(0.0, text="starting")
            result = run_backtest(params["setup"], symbol=symbol, start=params["start"],
                                  end=params["end"], costs=Costs(fee, slip),
                                  sizing=Sizing(sizing, size), initial_equity=equity,
                                  candle_store=state.candle_store(), setup_store=store,
                                  run_store=state.run_store(),
                                  progress=lambda f, m: bar.progress(f, text=m))
            st.session_state["backtest_run"] = result.run_id
            bar.empty()

job = st.session_state.get("backtest_job")
if job:
    pending = state.job_bus().status(job)
    if pending["state"] in ("queued", "running"):
        st.caption(f"Running {run_words(pending['params'])} in the engine daemon; the result "
                   "replaces this bar.")
    status = follow("backtest_job")
    if status is None:  # queued or running: the progress stands where the result will be
        st.stop()
    st.session_state.pop("backtest_job", None)
    if status["state"] == "done":
        st.session_state["backtest_run"] = status["result"]["run_id"]
    else:
        st.error(f"The backtest {status['state']}: {status.get('error', '')}")
        st.stop()

@st.fragment
def result_charts(run_id: str, trades) -> None:
    """The run's charts in tabs, only the open tab's built: a page opens with one chart to
    build, not six. A fragment: switching tabs reruns only this part."""
    tabs = st.tabs(["Equity and drawdown", "R distribution", "MFE / MAE", "Calendar"],
                   key="backtest_tabs", on_change="rerun")
    if tabs[0].open:
        tabs[0].plotly_chart(state.equity_chart(run_id), key="backtest_chart_equity")
    shown = [tab for tab in tabs[1:] if tab.open]
    if not len(trades):
        for tab in shown:
            tab.info("No trades in this run.")
        return
    if tabs[1].open:
        tabs[1].plotly_chart(r_histogram(trades), key="backtest_chart_r")
    if tabs[2].open:
        tabs[2].plotly_chart(mfe_mae_figure(trades), key="backtest_chart_mfe")
    if tabs[3].open:
        zone = display_zone()
        tabs[3].plotly_chart(monthly_heatmap(trades, tz=zone), key="backtest_chart_monthly")
        left, right = tabs[3].columns(2)
        left.plotly_chart(calendar_figure(trades, "weekday", tz=zone),
                          key="backtest_chart_weekday")
        right.plotly_chart(calendar_figure(trades, "hour", tz=zone), key="backtest_chart_hour")


run_id = st.session_state.get("backtest_run")
if not run_id:
    latest = state.runs()
    if not len(latest):
        st.info("Run a backtest to see its result here.")
        st.stop()
    run_id = latest["run_id"].iloc[0]
    st.caption("Showing the latest run; run a backtest to replace it.")

with user_errors():
    runs = state.run_store()
    summary = runs.summary(run_id)
    trades = runs.frame(run_id, "trades")
    m = summary["metrics"]
    st.subheader(run_header(summary, display_zone()))
    st.caption(run_details(summary))
    row1 = st.columns(6)
    row1[0].metric("Trades", m["trades"])
    row1[1].metric("Win rate", fmt(m["win_rate"], "ratio"))
    row1[2].metric("Expectancy (net)", fmt(m.get("expectancy_r_net", m["expectancy_r"]), "r"))
    row1[3].metric("Profit factor", fmt(m["profit_factor"]))
    row1[4].metric("Return", fmt(m["total_return_pct"], "pct"))
    row1[5].metric("Max drawdown", fmt(m["max_drawdown_pct"], "pct"))
    capped = summary["counters"].get("size_capped_by_leverage", 0)
    if capped:
        st.warning(f"{capped} of {m['trades']} trades were sized down by the leverage cap: their "
                   "stop was too tight for the risk % on this account, so they risked less than "
                   "planned and fees weigh heavily on their R.")
    with st.expander("All metrics and counters"):
        left, right = st.columns([3, 2])
        left.dataframe(metrics_table({"this run": m}), width="stretch")
        right.dataframe(counters_table(summary), width="stretch")
    result_charts(run_id, trades)
    run_chart(summary, trades)
    candles = state.candles(summary["symbol"], summary["timeframe"], summary["data_start"],
                            None)
    by = st.selectbox("Breakdown by", BREAKDOWNS, key="backtest_by")
    st.dataframe(**breakdown_table(state.run_breakdown(run_id, by), by), width="stretch")
    d1, d2 = st.columns(2)
    d1.download_button("Trades CSV", trades.to_csv(index=False), f"{run_id}-trades.csv",
                       key="backtest_csv")
    if d2.button("Build HTML report", key="backtest_html"):
        path = write_html_report(runs, run_id, candles)
        st.download_button("Download HTML report", path.read_bytes(), report_file_name(summary),
                           key="backtest_html_dl")
