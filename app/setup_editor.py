"""The Setups page's YAML editor: the text (with the unsaved edits of `app.setup_drafts`),
Validate, Save as new version, and Save as new setup when the text names another id.

It runs as a fragment: typing and Validate rerun only the editor, not the page's chart; a save
reruns the whole page, so that the table, the selector and the editor show the saved version.
"""

from __future__ import annotations

import streamlit as st

from app.setup_drafts import (
    discard_draft,
    draft_keys,
    draft_text,
    forget_draft,
    keep_draft,
    yaml_key,
)
from app.ui import show_error, user_errors
from engine.errors import ItaError
from engine.setups.parse import parse_setup
from engine.setups.store import SetupStore, SetupVersion

RENAMED = ("To keep it, change it back; to start a new setup from this text, use “Save as new "
           "setup”.")


def parsed_or_problem(text: str, setup_id: str):
    try:
        return parse_setup(text, source=f"{setup_id}.yaml"), None
    except ItaError as error:
        return None, error


def validate(text: str, current: SetupVersion, parsed, problem) -> None:
    if problem:
        show_error(problem)
    elif parsed.id != current.id:
        st.warning(f"Valid, but the id is now {parsed.id!r}: {RENAMED}")
    elif text == current.text:
        st.success(f"Valid: {parsed.name} (unchanged from v{current.version})")
    else:
        st.success(f"Valid: {parsed.name} (edited; not saved yet)")


def save_version(store: SetupStore, text: str, current: SetupVersion, parsed, problem,
                 numbers: list[int]) -> None:
    if problem:
        show_error(problem)
        return
    if parsed.id != current.id:
        st.error(f"The id cannot be changed here: this is setup {current.id!r}, the text says "
                 f"{parsed.id!r}. {RENAMED}")
        return
    with user_errors():
        saved = store.save(text, source=f"{current.id}.yaml")
        forget_draft(current.id, current.version)
        if saved.version == current.version:
            st.info(f"Nothing changed: this text is v{saved.version} already.")
            return
        notice = (f"This text is v{saved.version} already; v{saved.version} is now active."
                  if saved.version in numbers else
                  f"Saved {saved.id} v{saved.version} and made it active.")
        st.session_state["setups_pending"] = (saved.id, saved.version, notice)
        st.rerun()  # the whole page: table, selector and editor show the saved version


def save_new_setup(store: SetupStore, text: str, current: SetupVersion, parsed) -> None:
    if parsed.id in store.ids():
        st.error(f"A setup {parsed.id!r} exists already; choose another id for the new setup.")
        return
    with user_errors():
        saved = store.save(text, source=f"{parsed.id}.yaml")
        forget_draft(current.id, current.version)
        st.session_state["setups_pending"] = (saved.id, saved.version,
                                              f"Created setup {saved.id} v1.")
        st.rerun()


@st.fragment
def yaml_editor(store: SetupStore, current: SetupVersion, active: int, numbers: list[int]) -> None:
    """The YAML, its unsaved edits and its buttons. A fragment: typing and Validate rerun
    only this part, not the chart; a save reruns the whole page."""
    setup_id, version = current.id, current.version
    st.caption(f"Editing {setup_id} v{version}" + (" (active)" if version == active else
                                                   f"; the active version is v{active}"))
    text = st.text_area("YAML", value=draft_text(setup_id, version, current.text), height=480,
                        key=yaml_key(setup_id, version))
    keep_draft(setup_id, version, text, current.text)
    if (setup_id, version) in draft_keys():
        st.warning(f"Unsaved edits to v{version}: they stay here, for this setup, until you "
                   "save or discard them.")
        st.button("Discard my edits", key="setups_discard", on_click=discard_draft,
                  args=(setup_id, version, current.text))
    parsed, problem = parsed_or_problem(text, setup_id)
    renamed = parsed is not None and parsed.id != setup_id
    col1, col2, col3 = st.columns(3)
    if col1.button("Validate", key="setups_validate"):
        validate(text, current, parsed, problem)
    if col2.button("Save as new version", key="setups_save", type="primary"):
        save_version(store, text, current, parsed, problem, numbers)
    if renamed and col3.button(f"Save as new setup {parsed.id}", key="setups_save_new"):
        save_new_setup(store, text, current, parsed)
