"""Research: search a setup version's `optimise:` ranges (Optuna, grid sweep, walk-forward) as
engine daemon jobs, follow or cancel them, read the results (kept under runs/research/, so they
survive a restart) and save a chosen row as a new setup version."""

import streamlit as st

from app import state
from app.research_ui import (
    METHODS,
    OBJECTIVE_LABELS,
    RUN_LABELS,
    describe,
    equity_figure,
    follow,
    grid_size,
    heatmap,
    keep_ranges,
    kept_ranges,
    load_result,
    param_columns,
    ranges_from,
    research_store,
    result_heading,
    result_label,
    results_of,
    trials_columns,
    windows_figure,
)
from app.ui import fmt, sidebar, stop_if_empty, user_errors

choice = sidebar(state.series(), timeframe=False)
st.title("Research")
store = state.setup_store()
ids = store.ids()
stop_if_empty(ids, "No setups yet: run `ita demo` to add the examples.")

c1, c2, c3 = st.columns([2, 1, 2])
setup_id = c1.selectbox("Setup", ids, key="research_setup", persist_state="session")
numbers = state.version_numbers(setup_id)
active = store.active(setup_id)
version = c2.selectbox("Version", numbers, index=numbers.index(active),
                       key=f"research_version_{setup_id}", persist_state="session",
                       format_func=lambda n: f"v{n}" + (" (active)" if n == active else ""))
method = c3.segmented_control("Method", list(METHODS), format_func=METHODS.get,
                              default="optimise", key="research_method",
                              persist_state="session") or "optimise"
setup = state.setup_version(setup_id, version).setup
here = f"{setup_id}_{version}"

if not setup.optimise:
    st.info(f"{setup_id} v{version} declares no `optimise:` ranges: add some in the Setups page "
            "(e.g. `plan.target.r_multiple: {low: 1, high: 3, step: 0.5}`).")
else:
    with st.form("research_form"):
        st.caption(f"Ranges for this run only ({setup_id} v{version} keeps its own); an empty "
                   "step is a continuous range (a sweep tries its two ends).")
        edited = st.data_editor(kept_ranges(here, setup.optimise), hide_index=True, width="stretch",
                                disabled=["parameter"], num_rows="fixed",
                                key=f"research_ranges_{here}")
        f1, f2, f3, f4 = st.columns(4)
        objective = f1.selectbox("Objective", list(OBJECTIVE_LABELS),
                                 format_func=OBJECTIVE_LABELS.get, key="research_objective",
                                 persist_state="session")
        min_trades = f2.number_input("Minimum trades", 0, 100_000,
                                     5 if method == "walkforward" else 10,
                                     key=f"research_min_trades_{method}",
                                     persist_state="session")
        extra = {}
        if method in ("optimise", "walkforward"):
            extra["trials"] = f3.number_input(
                "Trials" + (" per window" if method == "walkforward" else ""), 1, 100_000,
                30 if method == "walkforward" else 50, key=f"research_trials_{method}",
                persist_state="session")
        if method == "walkforward":
            w1, w2, w3 = st.columns(3)
            extra["train_bars"] = w1.number_input("Train bars", 1, 10_000_000, 2000,
                                                  key="research_train",
                                                  persist_state="session")
            extra["test_bars"] = w2.number_input("Test bars", 1, 10_000_000, 500,
                                                 key="research_test",
                                                 persist_state="session")
            extra["anchored"] = w3.checkbox("Anchored (train from the first bar)",
                                            key="research_anchored",
                                            persist_state="session")
        submitted = f4.form_submit_button(RUN_LABELS[method], type="primary")
    if submitted:
        keep_ranges(here, edited)
        with user_errors():
            ranges = ranges_from(edited)
            params = {"setup": f"{setup_id}@{version}", "symbol": choice["symbol"],
                      "start": choice["start"], "end": choice["end"], "objective": objective,
                      "min_trades": int(min_trades), "ranges": ranges, **extra}
            if method == "sweep":
                st.caption(f"{grid_size(ranges):,} combinations")
            st.session_state["research_job"] = state.job_bus().submit(method, params)

status = follow("research_job")
engine = state.engine_state()
if status is None and st.session_state.get("research_job") and not (engine and engine["alive"]):
    st.warning("No engine daemon is running: the job waits in the queue until one starts "
               "(`make run`, or `ita engine` in a terminal).")
if status:
    if status["state"] == "done":
        st.session_state["research_result"] = status["result"]["research"]
    elif status["state"] == "cancelled":
        st.warning(f"Job {status['job_id']} was cancelled.")
    else:
        st.error(status.get("error", status["state"]))
    st.session_state.pop("research_job", None)

st.divider()
results = results_of(setup_id)
stop_if_empty(results, f"No results of {setup_id} yet: run a search above to see them here; "
                       "they stay after a restart.")
shown = st.session_state.get("research_result")
job_id = st.selectbox("Result", results, key=f"research_shown_{shown}",
                      index=results.index(shown) if shown in results else 0,
                      format_func=lambda j: result_label(research_store().summary(j)))
result = load_result(job_id)
summary, frames = result.summary, result.frames
title, other_version = result_heading(summary, version)
st.subheader(title)
if other_version:
    st.warning(other_version)
st.caption(describe(summary))
source = store.load(summary["setup"]).setup


def save_row(params: dict, key: str) -> None:
    """Save `params` on the searched version as its setup's next version."""
    if st.button("Save as new version", key=key, type="primary"):
        from engine.backtest.optimise import save_best_as_version

        with user_errors():
            saved = save_best_as_version(store, source, params)
            st.success(f"Saved as {saved.id} v{saved.version} (now active) with {params}")


if summary["kind"] in ("optimise", "sweep"):
    trials = frames["trials"]
    paths = [p for p in summary["ranges"] if p in trials.columns]
    scored = trials["value"].notna()
    m = st.columns(4)
    m[0].metric(f"Best {OBJECTIVE_LABELS[summary['objective']]}", fmt(summary["best_value"]))
    m[1].metric("Trials" if summary["kind"] == "optimise" else "Variants", f"{len(trials):,}")
    m[2].metric(f"Scored (≥ {summary['min_trades']} trades)", f"{int(scored.sum()):,}")
    m[3].metric("Trades of the best", fmt(trials["trades"].iloc[0]) if len(trials) else "—")
    unused = [c for c in ("error",) if c in trials and not trials[c].astype(bool).any()]
    table = trials.drop(columns=unused + [c for c in (summary["objective"],) if c in trials])
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config=trials_columns(summary["objective"]), key="research_trials")
    if len(paths) >= 2 and scored.any():
        x, y = paths[0], paths[1]
        if len(paths) > 2:
            a1, a2 = st.columns(2)
            x = a1.selectbox("Heatmap x", paths, key="research_heat_x")
            y = a2.selectbox("Heatmap y", [p for p in paths if p != x], key="research_heat_y")
        st.plotly_chart(heatmap(trials, x, y, summary["objective"]), key="research_heatmap")
    if len(trials):
        row = st.selectbox("Row to save", range(len(trials)), key=f"research_row_{job_id}",
                           format_func=lambda i: f"#{i + 1}: "
                           + ", ".join(f"{p} = {trials[p].iloc[i]:g}" for p in paths)
                           + f" → {fmt(trials['value'].iloc[i])}, "
                             f"{fmt(trials['trades'].iloc[i])} trades")
        save_row({p: trials[p].iloc[row].item() for p in paths}, f"research_save_{job_id}")
else:
    windows, oos = frames["windows"], summary["out_of_sample"]
    m = st.columns(5)
    m[0].metric("Windows", summary["windows"])
    m[1].metric(f"In-sample mean {OBJECTIVE_LABELS[summary['objective']]}",
                fmt(summary["in_sample_mean"]))
    m[2].metric("Out-of-sample expectancy", fmt(oos.get("expectancy_r"), "r"))
    m[3].metric("Out-of-sample trades", fmt(oos.get("trades")))
    m[4].metric("Out-of-sample return", fmt(oos.get("total_return_pct"), "pct"))
    st.plotly_chart(windows_figure(windows, summary["objective"]), key="research_windows")
    st.plotly_chart(equity_figure(frames["oos_equity"], frames["is_equity"]),
                    key="research_equity")
    st.dataframe(windows, hide_index=True, width="stretch", key="research_windows_table")
    chosen = param_columns(windows)
    row = st.selectbox("Window whose parameters to save", range(len(windows)),
                       index=len(windows) - 1, key=f"research_window_{job_id}",
                       format_func=lambda i: f"#{i}: " + ", ".join(
                           f"{c.removeprefix('param:')} = {windows[c].iloc[i]:g}"
                           for c in chosen))
    save_row({c.removeprefix("param:"): windows[c].iloc[row].item() for c in chosen},
             f"research_save_{job_id}")
