"""Setups: list and versions, YAML editing with validation, diff, activate, and the setup's
detections and signals on a chart."""

import streamlit as st

from app import state
from app.chart_views import setup_chart
from app.ui import show_error, sidebar, stop_if_empty, user_errors
from engine.errors import ItaError
from engine.setups.parse import parse_setup

RENAMED = ("To keep it, change it back; to start a new setup from this text, use “Save as new "
           "setup”.")

choice = sidebar(state.series())
st.title("Setups")
store = state.setup_store()
infos = store.list()
stop_if_empty(infos, "No setups yet: run `ita demo` to add the examples.")

st.dataframe([{"id": s.id, "name": s.name, "tf": s.timeframe, "versions": s.versions,
               "active": s.active, "tags": ", ".join(s.tags)} for s in infos],
             hide_index=True, width="stretch")
if "setups_pending" in st.session_state:  # a version just saved: show it, and say so
    st.session_state["setups_id"], st.session_state["setups_version"], notice = (
        st.session_state.pop("setups_pending"))
    st.success(notice)
setup_id = st.selectbox("Setup", [s.id for s in infos], key="setups_id")
numbers = [v.version for v in store.versions(setup_id)]
active = store.active(setup_id)
version = st.selectbox("Version", numbers, index=numbers.index(active), key="setups_version",
                       format_func=lambda n: f"v{n}" + (" (active)" if n == active else ""))
current = store.load(setup_id, version)

# one view at a time: st.tabs would run every body, the chart's detections on every click
view = st.segmented_control("View", ["YAML", "Diff & activate", "Chart"], default="YAML",
                            key="setups_view", label_visibility="collapsed") or "YAML"
if view == "YAML":
    draft = f"setups_draft_{setup_id}_{version}"  # kept while another view is shown
    text = st.text_area("YAML", value=st.session_state.get(draft, current.text), height=480,
                        key=f"setups_yaml_{setup_id}_{version}")
    st.session_state[draft] = text
    try:
        parsed, problem = parse_setup(text, source=f"{setup_id}.yaml"), None
    except ItaError as error:
        parsed, problem = None, error
    renamed = parsed is not None and parsed.id != setup_id
    col1, col2, col3 = st.columns(3)
    if col1.button("Validate", key="setups_validate"):
        if problem:
            show_error(problem)
        elif renamed:
            st.warning(f"Valid, but the id is now {parsed.id!r}: {RENAMED}")
        else:
            st.success(f"Valid: {parsed.name}")
    if col2.button("Save as new version", key="setups_save", type="primary"):
        if problem:
            show_error(problem)
        elif renamed:
            st.error(f"The id cannot be changed here: this is setup {setup_id!r}, the text says "
                     f"{parsed.id!r}. {RENAMED}")
        else:
            with user_errors():
                saved = store.save(text, source=f"{setup_id}.yaml")
                if saved.version == version:
                    st.info(f"Nothing changed: this text is v{version} already.")
                else:
                    notice = (f"This text is v{saved.version} already; v{saved.version} is "
                              "now active." if saved.version in numbers else
                              f"Saved {saved.id} v{saved.version} and made it active.")
                    st.session_state["setups_pending"] = (saved.id, saved.version, notice)
                    st.rerun()
    if renamed and col3.button(f"Save as new setup {parsed.id}", key="setups_save_new"):
        if parsed.id in store.ids():
            st.error(f"A setup {parsed.id!r} exists already; choose another id for the new "
                     "setup.")
        else:
            with user_errors():
                saved = store.save(text, source=f"{parsed.id}.yaml")
                st.session_state["setups_pending"] = (saved.id, saved.version,
                                                      f"Created setup {saved.id} v1.")
                st.rerun()

if view == "Diff & activate":
    if len(numbers) > 1:
        a, b = st.columns(2)
        old = a.selectbox("Old", numbers, index=len(numbers) - 2, key="setups_old")
        new = b.selectbox("New", numbers, index=len(numbers) - 1, key="setups_new")
        st.code(store.diff(setup_id, old, new) or "(identical)", language="diff")
    else:
        st.caption("Only one version so far.")
    if st.button(f"Activate v{version}", key="setups_activate", disabled=version == active):
        store.activate(setup_id, version)
        st.success(f"v{version} is active.")

if view == "Chart":
    with user_errors():
        setup_chart(setup_id, version, choice)
