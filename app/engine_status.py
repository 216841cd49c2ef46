"""The engine daemon's state in words, field by field (the Settings page shows them)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from app import state
from engine.errors import ItaError

START_IT = "make run, or .venv/bin/ita engine"


def engine_fields(engine: dict | None) -> dict[str, str]:
    """`state.engine_state()` as readable fields: running or not, since when, how old the last
    heartbeat is, the current job."""
    if engine is None:
        return {"state": "not running (it has never run in this ITA home)", "start it": START_IT}
    age = engine.get("heartbeat_age_s")
    fields = {"state": "running" if engine["alive"] else "not running (its heartbeat stopped)",
              "since": _when(engine.get("started_at")),
              "last heartbeat": _ago(age) if age is not None else "unknown",
              "process id": str(engine.get("pid", "unknown"))}
    if engine["alive"]:
        fields["current job"] = _job_words(engine.get("current_job"))
        fields["jobs done"] = str(engine.get("jobs_done", 0))
        fields["jobs queued"] = str(engine.get("queued", 0))
    else:
        fields["start it"] = START_IT
    return fields


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"


def _when(stamp) -> str:
    try:
        moment = pd.Timestamp(stamp)
    except (TypeError, ValueError):
        return "unknown"
    if moment is pd.NaT:
        return "unknown"
    if moment.tzinfo is None:
        moment = moment.tz_localize(dt.UTC)
    return f"{moment.tz_convert(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _job_words(job_id: str | None) -> str:
    if not job_id:
        return "none (idle)"
    try:
        status = state.job_bus().status(job_id)
    except ItaError:
        return job_id
    params = status.get("params", {})
    what = " ".join(str(params[k]) for k in ("setup", "symbol") if params.get(k))
    progress = status.get("progress")
    done = f", {progress:.0%}" if isinstance(progress, (int, float)) else ""
    return f"{status.get('kind', 'job')} {what} ({status.get('state', '?')}{done}) — {job_id}"
