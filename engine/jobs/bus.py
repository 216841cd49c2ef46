"""The file bus for long jobs: requests in ``exchange/requests/<job>.json``, status in
``exchange/jobs/<job>.json``, each written atomically.

Status states: ``queued`` -> ``running`` (progress 0..1, message, pid) -> ``done`` (result) |
``failed`` (error: one line) | ``interrupted`` (the daemon died while it ran).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

from engine._io import write_json_atomic
from engine.errors import JobError
from engine.settings import Settings, get_settings

STATES = ("queued", "running", "done", "failed", "interrupted")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class JobBus:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests = self.root / "requests"
        self.jobs = self.root / "jobs"
        self.logs = self.root / "logs"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> JobBus:
        return cls((settings or get_settings()).exchange_dir)

    def submit(self, kind: str, params: dict) -> str:
        from engine.jobs.kinds import KINDS

        if kind not in KINDS:
            raise JobError(f"unknown job kind {kind!r}; use one of {', '.join(KINDS)}")
        KINDS[kind].validate(params)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")  # sorts in submit order
        job_id = f"{stamp}-{kind}-{secrets.token_hex(3)}"
        self.write_status(job_id, {"job_id": job_id, "kind": kind, "params": params,
                                   "state": "queued", "progress": 0.0, "message": "queued",
                                   "submitted_at": _now()})
        write_json_atomic(self.requests / f"{job_id}.json",
                          {"job_id": job_id, "kind": kind, "params": params})
        return job_id

    def write_status(self, job_id: str, status: dict) -> None:
        write_json_atomic(self.jobs / f"{job_id}.json", status)

    def update(self, job_id: str, **changes) -> dict:
        status = self.status(job_id)
        status.update(changes, updated_at=_now())
        self.write_status(job_id, status)
        return status

    def status(self, job_id: str) -> dict:
        path = self.jobs / f"{job_id}.json"
        if not path.exists():
            raise JobError(f"no job {job_id!r}")
        return json.loads(path.read_text())

    def pending(self) -> list[dict]:
        """Requests not yet finished, oldest first."""
        if not self.requests.exists():
            return []
        out = []
        for path in sorted(self.requests.glob("*.json")):
            try:
                out.append(json.loads(path.read_text()))
            except json.JSONDecodeError:
                job_id = path.stem
                self.write_status(job_id, {"job_id": job_id, "state": "failed",
                                           "error": f"request {path.name} is not valid JSON"})
                path.unlink()
        return out

    def finish_request(self, job_id: str) -> None:
        (self.requests / f"{job_id}.json").unlink(missing_ok=True)

    def list(self, limit: int = 50) -> list[dict]:
        if not self.jobs.exists():
            return []
        paths = sorted(self.jobs.glob("*.json"), reverse=True)[:limit]
        return [json.loads(p.read_text()) for p in paths]
