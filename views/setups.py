"""Setups: list and versions, YAML editing with validation, diff, activate, the setup's
detections and signals on a chart, and the theory it cites beside its measured results."""

import streamlit as st

from app import state
from app.chart_views import setup_chart
from app.setup_drafts import setup_drafts
from app.setup_editor import yaml_editor
from app.setup_kb import draft_box
from app.setup_theory import theory_view
from app.ui import sidebar, stop_if_empty, user_errors

choice = sidebar(state.series(), timeframe=False)
st.title("Setups")
store = state.setup_store()
infos = store.list()
stop_if_empty(infos, "No setups yet: run `ita demo` to add the examples.")
drafts = setup_drafts()

if "setups_pending" in st.session_state:  # a version just saved or activated: show it
    pending_id, pending_version, notice = st.session_state.pop("setups_pending")
    st.session_state["setups_id"] = pending_id
    st.session_state[f"setups_version_{pending_id}"] = pending_version
    st.success(notice)
st.dataframe([{"id": s.id, "name": s.name, "tf": s.timeframe, "versions": s.versions,
               "active": s.active, "tags": ", ".join(s.tags)} for s in infos],
             hide_index=True, width="stretch")
setup_id = st.selectbox("Setup", [s.id for s in infos], key="setups_id")
numbers = [v.version for v in store.versions(setup_id)]
active = store.active(setup_id)
# One version widget per setup: a version chosen for one setup never carries over to another.
version = st.selectbox("Version", numbers, index=numbers.index(active),
                       key=f"setups_version_{setup_id}",
                       format_func=lambda n: f"v{n}" + (" (active)" if n == active else ""))
current = store.load(setup_id, version)
draft_box(state.settings(), current)
if idea_notice := st.session_state.pop("setups_idea_notice", None):
    st.info(idea_notice)
elsewhere = [f"{i} v{v}" for i, versions in drafts.items() for v in versions
             if (i, v) != (setup_id, version)]
if elsewhere:
    st.info(f"Unsaved edits kept for {', '.join(sorted(elsewhere))}: choose it to go on.")

# one view at a time: st.tabs would run every body, the chart's detections on every click;
# unsaved YAML edits are kept per setup and version (app/setup_drafts.py) across views
view = st.segmented_control("View", ["YAML", "Diff & activate", "Chart", "Theory"],
                            default="YAML",
                            key="setups_view", label_visibility="collapsed") or "YAML"
if view == "YAML":
    yaml_editor(store, current, active, numbers)

if view == "Diff & activate":
    if len(numbers) > 1:
        a, b = st.columns(2)
        old = a.selectbox("Old", numbers, index=len(numbers) - 2, key=f"setups_old_{setup_id}")
        new = b.selectbox("New", numbers, index=len(numbers) - 1, key=f"setups_new_{setup_id}")
        st.code(store.diff(setup_id, old, new) or "(identical)", language="diff")
    else:
        st.caption("Only one version so far.")
    if st.button(f"Activate v{version}", key="setups_activate", disabled=version == active):
        with user_errors():
            store.activate(setup_id, version)
            st.session_state["setups_pending"] = (setup_id, version, f"v{version} is active.")
            st.rerun()

if view == "Chart":
    with user_errors():
        setup_chart(setup_id, version, choice)

if view == "Theory":
    theory_view(state.settings(), setup_id, version)
