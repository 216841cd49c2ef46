"""Setups: list and versions, YAML editing with validation, diff, activate, and the setup's
detections and signals on a chart."""

import streamlit as st

from app import state
from app.charts import add_detections, add_signals, candle_figure, shade_sessions
from app.setup_drafts import (
    discard_draft,
    draft_keys,
    draft_text,
    forget_draft,
    keep_draft,
    setup_drafts,
    yaml_key,
)
from app.ui import show_error, sidebar, stop_if_empty, user_errors
from engine.errors import ItaError
from engine.pipeline import detect_setup
from engine.setups.parse import parse_setup

RENAMED = ("To keep it, change it back; to start a new setup from this text, use “Save as new "
           "setup”.")

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
table = st.empty()  # filled once the editor below has noted this run's edits
setup_id = st.selectbox("Setup", [s.id for s in infos], key="setups_id")
numbers = [v.version for v in store.versions(setup_id)]
active = store.active(setup_id)
# One version widget per setup: a version chosen for one setup never carries over to another.
version = st.selectbox("Version", numbers, index=numbers.index(active),
                       key=f"setups_version_{setup_id}",
                       format_func=lambda n: f"v{n}" + (" (active)" if n == active else ""))
current = store.load(setup_id, version)
elsewhere = [f"{i} v{v}" for i, versions in drafts.items() for v in versions
             if (i, v) != (setup_id, version)]
if elsewhere:
    st.info(f"Unsaved edits kept for {', '.join(sorted(elsewhere))}: choose it to go on.")

edit, compare, chart = st.tabs(["YAML", "Diff & activate", "Chart"])
with edit:
    area_key = yaml_key(setup_id, version)
    st.caption(f"Editing {setup_id} v{version}" + (" (active)" if version == active else
                                                   f"; the active version is v{active}"))
    text = st.text_area("YAML", value=draft_text(setup_id, version, current.text), height=480,
                        key=area_key)
    keep_draft(setup_id, version, text, current.text)
    if (setup_id, version) in draft_keys():
        st.warning(f"Unsaved edits to v{version}: they stay here, for this setup, until you "
                   "save or discard them.")
        st.button("Discard my edits", key="setups_discard", on_click=discard_draft,
                  args=(setup_id, version, current.text))
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
        elif text == current.text:
            st.success(f"Valid: {parsed.name} (unchanged from v{version})")
        else:
            st.success(f"Valid: {parsed.name} (edited; not saved yet)")
    if col2.button("Save as new version", key="setups_save", type="primary"):
        if problem:
            show_error(problem)
        elif renamed:
            st.error(f"The id cannot be changed here: this is setup {setup_id!r}, the text says "
                     f"{parsed.id!r}. {RENAMED}")
        else:
            with user_errors():
                saved = store.save(text, source=f"{setup_id}.yaml")
                forget_draft(setup_id, version)
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
                forget_draft(setup_id, version)
                st.session_state["setups_pending"] = (saved.id, saved.version,
                                                      f"Created setup {saved.id} v1.")
                st.rerun()

table.dataframe([{"id": s.id, "name": s.name, "tf": s.timeframe, "versions": s.versions,
                  "active": s.active, "tags": ", ".join(s.tags),
                  "unsaved edits": ", ".join(f"v{v}" for v in sorted(drafts.get(s.id, {})))}
                 for s in infos], hide_index=True, width="stretch")

with compare:
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

with chart:
    with user_errors():
        found = detect_setup(f"{setup_id}@{version}", symbol=choice["symbol"],
                             start=choice["start"], end=choice["end"],
                             candle_store=state.candle_store(), setup_store=store,
                             with_detections=True)
        tf = found.version.setup.market.timeframe
        fig = candle_figure(found.candles, tf, title=f"{setup_id} v{version} on "
                                                     f"{found.symbol} {tf}")
        shade_sessions(fig, found.candles)
        end = found.candles.index[-1]
        for name, frame in found.detections.items():
            add_detections(fig, name, frame, end)
        add_signals(fig, found.signals)
        st.plotly_chart(fig, key="setups_chart")
        st.caption(f"{len(found.signals)} signals; {found.dropped} dropped for a stop on the "
                   "wrong side of the entry.")
        st.dataframe(found.signals.drop(columns=["reasons"]), hide_index=True, width="stretch")
