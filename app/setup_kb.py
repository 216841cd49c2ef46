"""The Setups page's "Draft from an idea" box: the trader describes a setup in words (Russian or
English), the engine drafts it (`engine.kb.draft.draft_setup`: the LLM, the knowledge base's
passages, the validator's repair loop, a backtest preview that saves nothing); "Use this draft"
puts the YAML into the editor as an unsaved edit (`app.setup_drafts`), so nothing is saved until
the trader saves it there. Without an LLM the box says how to turn one on.
"""

from __future__ import annotations

import streamlit as st

from app.setup_drafts import keep_draft, yaml_key
from app.ui import fmt, user_errors

RESULT_KEY = "setups_idea_draft"
HOW_TO = ("Drafting needs an LLM: set `llm_model` (e.g. `llama3.1` or `gpt-4o-mini`) and, for a "
          "local Ollama, `llm_base_url` = `http://127.0.0.1:11434/v1` (OpenAI: leave it empty "
          "and put `ITA_OPENAI_API_KEY` in `.env`) on the Settings page. Meanwhile write the "
          "setup in the YAML below or in the Editor.")


def draft_box(settings, current) -> None:
    """The box, under the setup list; `current` is the setup version open in the editor."""
    with st.expander("Draft a setup from an idea", expanded=RESULT_KEY in st.session_state):
        if not settings.llm_model:
            st.info(HOW_TO)
            return
        idea = st.text_area("Your idea, in words (Russian or English)", key="setups_idea",
                            height=90, placeholder="после снятия азиатского минимума в "
                                                   "Лондоне вход от FVG, стоп за свип, цель 2R")
        # never disabled while the box is empty: a click that blurs the box commits its text
        if st.button("Draft", key="setups_idea_draft_button", type="primary"):
            from engine.kb.draft import draft_setup

            with user_errors(), st.spinner("drafting (the model, then the validator)"):
                st.session_state[RESULT_KEY] = draft_setup(settings, idea)
        draft = st.session_state.get(RESULT_KEY)
        if draft is not None:
            show_draft(draft, current)


def show_draft(draft, current) -> None:
    """The draft YAML, whether it is valid, the passages it relied on, its preview numbers,
    and "Use this draft"."""
    left, right = st.columns([3, 2])
    left.code(draft.yaml_text, language="yaml")
    with right:
        if draft.valid:
            rounds = "" if draft.rounds == 1 else f" after {draft.rounds - 1} repair(s)"
            st.success(f"Valid{rounds}: {draft.setup.name if draft.setup else ''}")
        else:
            st.error("Not valid:  \n" + "  \n".join(draft.errors))
        preview_numbers(draft.preview)
        for note in draft.notes:
            st.caption(note)
        if draft.sources:
            st.markdown("**Passages it relied on**")
            for source in draft.sources:
                page = f", p. {source['page']}" if source.get("page") is not None else ""
                st.caption(f"`{source['source']}`{page}: {source.get('quote', '')}")
    a, b = st.columns(2)
    if a.button("Use this draft", key="setups_idea_use", type="primary",
                help="Into the YAML editor as an unsaved edit; nothing is saved until you save"):
        keep_draft(current.id, current.version, draft.yaml_text, current.text)
        st.session_state.pop(yaml_key(current.id, current.version), None)
        st.session_state.pop(RESULT_KEY, None)
        st.session_state["setups_view"] = "YAML"
        st.session_state["setups_idea_notice"] = (
            f"The draft is in the editor as an unsaved edit of {current.id} v{current.version}: "
            "save it there (“Save as new setup” when its id is new), or discard it.")
        st.rerun()
    if b.button("Discard the draft", key="setups_idea_discard"):
        st.session_state.pop(RESULT_KEY, None)
        st.rerun()


def preview_numbers(preview) -> None:
    """The preview backtest's key numbers (nothing was saved)."""
    if preview is None:
        return
    m = preview.metrics
    st.markdown(f"**Preview** on {preview.symbol} {preview.timeframe} (not saved)")
    cols = st.columns(4)
    cols[0].metric("Signals", preview.signals)
    cols[1].metric("Trades", m.get("trades", 0))
    cols[2].metric("Win rate", fmt(m.get("win_rate"), "ratio"))
    cols[3].metric("Expectancy", fmt(m.get("expectancy_r_net", m.get("expectancy_r")), "r"))
