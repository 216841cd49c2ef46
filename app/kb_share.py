"""The Knowledge page's sharing parts: the shared folder's sync and who contributed what.

The sync is the engine's (`engine.kb.sync`): its status comes from `exchange/sync.json`
(`read_status`), "Sync now" is a `sync` job of the engine daemon when it runs, else the same
`sync_and_refresh` here with a progress bar. Without a remote the page says how to set one up
(docs/SHARED_KB.md): a note, not an error.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd
import streamlit as st

from app import state
from app.jobs_ui import follow
from app.ui import user_errors

SYNC_JOB_KEY = "knowledge_sync_job"
NO_REMOTE = ("**Sharing is off** — this knowledge base stays on this machine. To share it with "
             "other analysts through Google Drive, create an rclone remote and set "
             "`ITA_KB_REMOTE` (e.g. `gdrive:ITA`) in `.env`: the steps are in "
             "`docs/SHARED_KB.md`.")
STATE_WORDS = {"ok": ":green[ok]", "error": ":red[error]",
               "needs_attention": ":red[needs attention]", "running": ":orange[running]"}
_CONFLICT = re.compile(r"\.conflict\d+(?=(\.[^./]*)?$)")


def conflict_pairs(paths: list[str]) -> dict[str, list[str]]:
    """Conflict copies grouped by the file they are copies of:
    ``{"a/x.md": ["a/x.conflict1.md", "a/x.conflict2.md"]}``."""
    pairs: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        pairs[_CONFLICT.sub("", path)].append(path)
    return dict(pairs)


def _when(text: str | None) -> str:
    return (text or "never").replace("T", " ")[:19]


def sync_part(settings) -> None:
    """Last sync, pending changes, conflicts, Sync now."""
    from engine.kb import sync

    status = sync.read_status(settings)
    if not status.get("enabled"):
        st.info(NO_REMOTE)
        return
    st.markdown(f"Remote `{settings.kb_remote}` · last sync **{_when(status.get('last_run'))}** "
                f"{STATE_WORDS.get(status.get('state'), status.get('state') or '')} · last "
                f"good sync {_when(status.get('last_ok'))}")
    if status.get("message"):
        message = status["message"]
        (st.error if status.get("state") in ("error", "needs_attention") else st.caption)(
            message)
    for line in status.get("error_lines") or ():
        st.code(line, language=None)
    a, b, c = st.columns(3)
    a.metric("Local changes not synced", status.get("pending_local_changes", 0))
    b.metric("Files up / down (last sync)",
             f"{status.get('files_up', 0)} / {status.get('files_down', 0)}")
    conflicts = conflict_pairs(sync.conflict_files(settings))
    c.metric("Conflicts", len(conflicts))
    if conflicts:
        st.warning("Changed on both sides: both copies are kept. Keep the right one (rename it "
                   "back), delete the other, then sync.")
        for original, copies in conflicts.items():
            st.markdown(f"- `{original}`: " + " and ".join(f"`{c}`" for c in copies))
    sync_button(settings, sync)


def sync_button(settings, sync) -> None:
    if st.session_state.get(SYNC_JOB_KEY):
        done = follow(SYNC_JOB_KEY)
        if done is None:
            return
        st.session_state.pop(SYNC_JOB_KEY, None)
        if done["state"] != "done":
            st.error(f"The sync {done['state']}: {done.get('error', '')}")
        else:
            st.success("Synced.")
    if not st.button("Sync now", key="knowledge_sync", type="primary"):
        return
    with user_errors():
        engine = state.engine_state()
        if engine and engine["alive"]:
            st.session_state[SYNC_JOB_KEY] = state.job_bus().submit("sync", {})
            st.rerun()
        bar = st.progress(0.0, text="syncing")
        report, _ = sync.sync_and_refresh(
            settings, progress=lambda f, m: bar.progress(min(1.0, f), text=m))
        bar.empty()
        (st.success if report.state == "ok" else st.error)(report.message)


def contributions(settings) -> pd.DataFrame:
    """Who contributed what: theory documents added, findings, notes, per analyst."""
    from engine.kb.shared import ANALYSTS, list_documents

    counts: dict[str, dict] = defaultdict(lambda: {"documents": 0, "findings": 0, "notes": 0,
                                                   "last added": ""})
    for doc in list_documents(settings):
        parts = doc.source.split("/")
        kind = "documents" if parts[0] == "theory" else parts[2] if len(parts) > 2 else "notes"
        row = counts[doc.analyst]
        row[kind if kind in row else "notes"] += 1
        row["last added"] = max(row["last added"], doc.added_at.replace("T", " ")[:16])
    folder = settings.shared_kb_dir / ANALYSTS
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_dir() and not path.name.startswith("."):
                counts[path.name]  # an analyst with a folder but nothing indexed yet
    rows = [{"analyst": name, **row} for name, row in sorted(counts.items())]
    return pd.DataFrame(rows, columns=["analyst", "documents", "findings", "notes",
                                       "last added"])


def analysts_part(settings) -> None:
    frame = contributions(settings)
    if not len(frame):
        st.info("Nobody has added anything yet.")
        return
    st.dataframe(frame, hide_index=True, width="stretch")
    st.caption("Documents: theory files each analyst added; findings and notes: the markdown "
               "and files in their own folder `shared_kb/analysts/<name>/`.")
