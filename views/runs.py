"""Runs: every backtest by a readable name with its key metrics (fits a 1280-px window); runs
side by side with an equity overlay on a date axis; one run's details (ids, every metric, its
note, its deletion, asked twice); its reports (send to Notion, the random-sample check, a period
report with the live-vs-backtest drift and its CSV/HTML); SQL over all runs."""

import streamlit as st

from app import state
from app.reports_ui import reports_section
from app.runs_ui import equity_overlay, key_metrics, overview, run_names
from app.ui import metrics_table, sidebar, stop_if_empty, user_errors

sidebar(state.series(), market=False)
st.title("Runs")
if deleted := st.session_state.pop("runs_deleted", None):
    st.success(f"Deleted {deleted}.")
runs = state.runs()
stop_if_empty(runs, "No runs yet: run a backtest first.")
names = run_names(runs)
ids = runs["run_id"].tolist()
st.dataframe(**overview(runs), width="stretch")

for key in ("runs_compare", "runs_manage"):  # a run deleted meanwhile: back to the defaults
    kept = st.session_state.get(key)
    if any(r not in names for r in ([kept] if isinstance(kept, str) else kept or [])):
        del st.session_state[key]

chosen = st.multiselect("Compare runs", ids, default=ids[:2], format_func=names.get,
                        key="runs_compare")
store = state.run_store()
if chosen:
    with user_errors():
        metrics = {names[r]: store.summary(r)["metrics"] for r in chosen}
        st.dataframe(key_metrics(metrics), width="stretch")
        scale = st.radio("Equity", ["Normalised to 100", "Account equity"], horizontal=True,
                         key="runs_scale")
        curves = {names[r]: store.frame(r, "equity")["equity"] for r in chosen}
        st.plotly_chart(equity_overlay(curves, normalised=scale == "Normalised to 100"),
                        key="runs_equity")
        with st.expander("All metrics"):
            st.dataframe(metrics_table(metrics), width="stretch")

st.subheader("Run details: ids, every metric, note, delete")
run_id = st.selectbox("Run", ids, format_func=names.get, key="runs_manage")
short = runs.set_index("run_id").loc[run_id, "short_id"]
st.caption(f"Short id **{short}** (any `ita runs` command takes it) · full id:")
st.code(run_id, language=None)
with user_errors():
    st.dataframe(metrics_table({names[run_id]: store.summary(run_id)["metrics"]}),
                 width="stretch", height=260, key="runs_detail_metrics")
note = st.text_area("Note (Markdown; kept beside the run in note.md)", value=store.note(run_id),
                    key=f"runs_note_{run_id}")
save, delete = st.columns(2)
if save.button("Save note", key="runs_save_note"):
    with user_errors():
        store.set_note(run_id, note)
        st.success("Note saved." if note.strip() else "Note removed.")
if delete.button("Delete run", key="runs_delete"):
    st.session_state["runs_confirm_delete"] = run_id
if st.session_state.get("runs_confirm_delete") == run_id:
    st.warning(f"Delete {names[run_id]}? Its trades, equity, signals and note go for good.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", type="primary", key="runs_delete_yes"):
        with user_errors():
            store.delete(run_id)
            st.session_state.pop("runs_confirm_delete")
            st.session_state["runs_deleted"] = names[run_id]
            st.rerun()
    if no.button("Cancel", key="runs_delete_no"):
        st.session_state.pop("runs_confirm_delete")
        st.rerun()

st.subheader("Reports: Notion, the random-sample check, a period")
reports_section(state.settings(), run_id, names[run_id])

st.subheader("Query all runs (DuckDB)")
sql = st.text_area("One read-only SELECT over the views trades, equity, signals and summaries "
                   "(each has run_id)",
                   "SELECT run_id, setup_id, setup_version, count(*) AS trades,\n"
                   "       avg(r_multiple) AS avg_r\nFROM trades GROUP BY ALL ORDER BY avg_r DESC",
                   key="runs_sql")
if st.button("Run query", key="runs_query"):
    with user_errors():
        st.dataframe(state.run_store().query(sql), hide_index=True, width="stretch")
