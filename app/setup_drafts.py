"""Unsaved YAML edits on the Setups page, kept per setup and version for the browser session.

A trader who types into one setup's YAML, then looks at another setup or version, finds the
edits again on coming back: nothing typed is lost without a click on "Discard my edits". A
text whose hash equals its version's (the same text, up to line endings and trailing spaces) is
no draft. The drafts live in `st.session_state["setups_drafts"]`: {setup id: {version: text}}.
"""

from __future__ import annotations

import streamlit as st

from engine.setups.store import text_hash

_KEY = "setups_drafts"


def setup_drafts() -> dict[str, dict[int, str]]:
    """Every unsaved edit of this session: {setup id: {version: text}}."""
    return st.session_state.setdefault(_KEY, {})


def draft_keys() -> set[tuple[str, int]]:
    return {(i, v) for i, versions in setup_drafts().items() for v in versions}


def yaml_key(setup_id: str, version: int) -> str:
    """The text area's widget key for one setup version."""
    return f"setups_yaml_{setup_id}_{version}"


def draft_text(setup_id: str, version: int, saved_text: str) -> str:
    """The text to show: the unsaved edits if any, else the version's own text."""
    return setup_drafts().get(setup_id, {}).get(version, saved_text)


def keep_draft(setup_id: str, version: int, text: str, saved_text: str) -> None:
    """Remember `text` as the draft of this version, or forget the draft when it is the
    version's own text again."""
    if text_hash(text) == text_hash(saved_text):
        forget_draft(setup_id, version)
    else:
        setup_drafts().setdefault(setup_id, {})[version] = text


def forget_draft(setup_id: str, version: int) -> None:
    drafts = setup_drafts()
    drafts.get(setup_id, {}).pop(version, None)
    if setup_id in drafts and not drafts[setup_id]:
        del drafts[setup_id]


def discard_draft(setup_id: str, version: int, saved_text: str) -> None:
    """Button callback: forget the draft and put the version's text back in the editor."""
    forget_draft(setup_id, version)
    st.session_state[yaml_key(setup_id, version)] = saved_text
