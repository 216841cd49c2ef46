"""Submit a job to the daemon and follow it without freezing the page."""

from __future__ import annotations

import streamlit as st

from app import state


def follow(job_key: str, *, poll=None) -> dict | None:
    """Poll the job whose id sits in st.session_state[job_key]; return its final status.

    While the job waits or runs, `poll(job_key)` (a `st.fragment(run_every=...)`; by default a
    progress bar) draws it and reruns the page when it ends."""
    job_id = st.session_state.get(job_key)
    if not job_id:
        return None
    status = state.job_bus().status(job_id)
    if status["state"] in ("queued", "running"):
        (poll or _poll)(job_key)
        return None
    return status


@st.fragment(run_every=1.0)
def _poll(job_key: str) -> None:
    job_id = st.session_state.get(job_key)
    status = state.job_bus().status(job_id)
    st.progress(float(status.get("progress", 0.0)),
                text=f"{status['state']}: {status.get('message', '')}")
    if status["state"] not in ("queued", "running"):
        st.rerun()
