"""The Setups page's Theory view: the passages a setup version cites (``sources:``) beside what
this version's backtests measured, and its findings, written and indexed on demand.

What the trader can rely on:

- Every cited passage is listed with its document's title, page and quote; a document that is
  no longer in the shared folder is shown as **missing**, never hidden (the YAML still cites
  it).
- The numbers are the runs' own (`engine.kb.verified.theory_of`, read from each run's
  ``summary.json``), newest first, with the version's learning verdict
  (`engine.kb.verified.learning_verdict`: its model, or that none is trained yet).
- "Write findings" is `engine.kb.findings.publish_findings`: the findings file in the analyst's
  folder of the shared base, then the knowledge index refreshed, so a search finds it. When runs
  newer than the written findings exist, the view says so.
- Without sources, one line says how to cite a passage.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from app import state
from app.ui import user_errors

LATEST_RUNS = 5
HOW_TO_CITE = ("This version cites no theory yet: on the Knowledge page, search for the rule, "
               "press “Cite in setup…” and save the edit here (or add `sources:` to the YAML).")
NOTICE_KEY = "setups_theory_notice"


@st.cache_data(show_spinner=False, max_entries=32)
def _theory(home: str, stamp: str, setup_id: str, version: int):
    from engine.kb.verified import theory_of

    return theory_of(state.settings(), setup_id, version)


def setup_theory(settings, setup_id: str, version: int):
    """`theory_of`, cached until the setup, a run or the shared folder's documents change."""
    stamp = "|".join((state._stamp(settings.setups_dir / setup_id, "*.yaml"),
                      state._stamp(settings.runs_dir, "*/summary.json"),
                      state._stamp(settings.shared_kb_dir, "theory/*"),
                      state._stamp(settings.shared_kb_dir, "analysts/*/findings/**/*"),
                      state._stamp(settings.shared_kb_dir, "analysts/*/notes/**/*")))
    return _theory(str(settings.home), stamp, setup_id, version)


def theory_view(settings, setup_id: str, version: int) -> None:
    """The whole view for one setup version."""
    with user_errors():
        theory = setup_theory(settings, setup_id, version)
        passages_part(theory)
        results_part(theory)
        findings_part(settings, theory)


def passages_part(theory) -> None:
    if not theory.passages:
        st.info(HOW_TO_CITE)
        return
    count = len(theory.passages)
    st.markdown(f"**Theory {theory.setup_id} v{theory.version} formalises** "
                f"({count} passage{'s' if count != 1 else ''})")
    for passage in theory.passages:
        cited = passage.citation
        page = f", p. {cited.page}" if cited.page is not None else ""
        with st.container(border=True):
            if passage.present:
                st.markdown(f":material/menu_book: **{_md(passage.title)}**{page}  \n"
                            f":gray[`{cited.source}`]")
            else:
                st.markdown(f":red[**missing**] **{_md(passage.title)}**{page} — no longer in "
                            "the knowledge base (removed from the shared folder, or not synced "
                            f"here yet)  \n:gray[`{cited.source}`]")
            if cited.quote:
                st.markdown("> " + _md(cited.quote))


def results_part(theory) -> None:
    st.markdown(f"**Measured by {theory.setup_id} v{theory.version}'s backtests**")
    if not theory.runs:
        st.caption(f"Not backtested yet: run it on the Backtest page (or `ita backtest "
                   f"{theory.setup_id}@{theory.version}`); its results appear here.")
    else:
        st.markdown(f"✔ Latest run: {_md(theory.runs[0].measured())}")
        st.dataframe(runs_frame(theory.runs[:LATEST_RUNS]), hide_index=True, width="stretch",
                     placeholder="—", key="setups_theory_runs", column_config={
                         "trades": st.column_config.NumberColumn("trades", format="%d"),
                         "expectancy": st.column_config.NumberColumn("expectancy",
                                                                     format="%+.2f R"),
                         "win rate": st.column_config.NumberColumn("win rate",
                                                                   format="%.0f %%"),
                         "profit factor": st.column_config.NumberColumn("profit factor",
                                                                        format="%.2f")})
        older = len(theory.runs) - LATEST_RUNS
        if older > 0:
            st.caption(f"… and {older} older run{'s' if older != 1 else ''} (Runs page).")
    st.caption(f"Learning: {theory.learning}.")


def runs_frame(runs) -> pd.DataFrame:
    """One row per run, newest first, in the numbers a trader compares."""
    from engine.kb.verified import period_words

    return pd.DataFrame(
        [{"period": period_words(run.start, run.end), "symbol": run.symbol,
          "timeframe": run.timeframe, "trades": run.trades, "expectancy": run.expectancy_r,
          "win rate": None if run.win_rate is None else run.win_rate * 100,
          "profit factor": run.profit_factor, "run": run.run_id} for run in runs],
        columns=["period", "symbol", "timeframe", "trades", "expectancy", "win rate",
                 "profit factor", "run"])


def findings_part(settings, theory) -> None:
    """The findings' state, "Write findings" (written and indexed), and their text."""
    from engine.kb.findings import findings_status

    status = findings_status(settings, theory.setup_id, theory.version, theory.runs)
    st.markdown("**Findings** (a short text with these numbers, in your folder of the shared "
                "base, found by search)")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice)
    if status.written_at is None:
        st.caption(f"Not written yet: they go to `{status.source}`.")
    else:
        newer = (f"; {status.newer_runs} run{'s' if status.newer_runs != 1 else ''} since — "
                 "write them again" if status.newer_runs else "")
        st.caption(f"`{status.source}`, written {status.written_at:%Y-%m-%d %H:%M} UTC{newer}.")
    label = "Write findings" if status.written_at is None else "Write findings again"
    if st.button(label, key="setups_theory_write", type="primary" if status.newer_runs else
                 "secondary", help="Write the findings file and index it (the embedding model "
                                   "takes a few seconds the first time)"):
        publish(settings, theory.setup_id, theory.version)
    if status.written_at is not None:
        with st.expander("Read the findings"):
            st.markdown(status.path.read_text(encoding="utf-8"))


def publish(settings, setup_id: str, version: int) -> None:
    from engine.kb.findings import publish_findings

    with user_errors(), st.spinner("writing the findings and indexing them"):
        bar = st.progress(0.0, text="indexing")
        try:
            published = publish_findings(
                settings, setup_id, version,
                progress=lambda f, m: bar.progress(min(1.0, max(0.0, f)), text=m))
        finally:
            bar.empty()
        st.session_state[NOTICE_KEY] = published_words(published)
        st.rerun()


def published_words(published) -> str:
    """What "Write findings" did, in words."""
    report = published.refresh
    if published.source in report.added + report.updated:
        indexed = (f"indexed ({report.chunks} passages embedded in {report.seconds:.1f} s)")
    else:
        indexed = "the index already held this very text"
    return (f"Findings written to `{published.path}`; {indexed}: search finds them now, other "
            "analysts get them at their next sync.")


def _md(text: str) -> str:
    """Plain text safe inside Markdown (no formatting, no HTML)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~$])", r"\\\1", str(text))
