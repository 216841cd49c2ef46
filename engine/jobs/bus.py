"""The file bus for long jobs: requests in ``exchange/requests/<job>.json``, status in
``exchange/jobs/<job>.json``, each written atomically.

Submitting writes one file, the request, in one atomic step; it is the single source of truth
for a queued job. A job's status file is written only once the daemon takes the job (the child
reports ``running``), so a writer killed while submitting leaves either nothing or a complete
request that will run; never a status that waits forever for a request. Until the daemon takes
it, `JobBus.status` reports a request as ``queued``.

Status states: ``queued`` -> ``running`` (progress 0..1, message, pid, attempt) -> ``done``
(result) | ``failed`` (error: one line) | ``cancelled`` (on request) | ``interrupted`` (the daemon
died while it ran and the job may not run twice, or already ran twice). A job the daemon
re-queues after it died carries ``attempt: 2`` and a status file in state ``queued``.

Cancelling writes ``exchange/cancel/<job>.json``; the daemon, the only one that runs jobs,
turns it into a cancelled job: a queued job never starts, a running one's process is killed.
While the request waits, `JobBus.status` shows ``cancel_requested: true``.

Job ids become file names: `checked_id` refuses ids that could escape the bus's folders.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

from engine._io import write_json_atomic
from engine.errors import JobError
from engine.ids import checked_id
from engine.settings import Settings, get_settings

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINISHED = ("done", "failed", "cancelled", "interrupted")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def checked_job_id(job_id: object) -> str:
    """`job_id` if it is safe as a file name, else a `JobError` naming it."""
    return checked_id(job_id, what="job id", error=JobError)


class JobBus:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests = self.root / "requests"
        self.jobs = self.root / "jobs"
        self.logs = self.root / "logs"
        self.cancels = self.root / "cancel"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> JobBus:
        return cls((settings or get_settings()).exchange_dir)

    def request_path(self, job_id: str) -> Path:
        return self.requests / f"{checked_job_id(job_id)}.json"

    def status_path(self, job_id: str) -> Path:
        return self.jobs / f"{checked_job_id(job_id)}.json"

    def submit(self, kind: str, params: dict) -> str:
        """Queue a job: one atomic write of its request. Returns the job id."""
        from engine.jobs.kinds import KINDS

        if kind not in KINDS:
            raise JobError(f"unknown job kind {kind!r}; use one of {', '.join(KINDS)}")
        KINDS[kind].validate(params)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")  # sorts in submit order
        job_id = f"{stamp}-{kind}-{secrets.token_hex(3)}"
        write_json_atomic(self.request_path(job_id), {"job_id": job_id, "kind": kind,
                                                      "params": params, "submitted_at": _now()})
        return job_id

    def write_status(self, job_id: str, status: dict) -> None:
        write_json_atomic(self.status_path(job_id), status)

    def update(self, job_id: str, **changes) -> dict:
        status = self.status(job_id)
        status.update(changes, updated_at=_now())
        self.write_status(job_id, status)
        return status

    def cancel_path(self, job_id: str) -> Path:
        return self.cancels / f"{checked_job_id(job_id)}.json"

    def cancel(self, job_id: str) -> dict:
        """Ask the daemon to cancel a queued or running job; its status, cancel requested.
        A finished job cannot be cancelled (`JobError`)."""
        status = self.status(job_id)
        if status.get("state") in FINISHED:
            raise JobError(f"job {job_id} is {status['state']} already; nothing to cancel")
        write_json_atomic(self.cancel_path(job_id), {"job_id": job_id, "requested_at": _now()})
        return {**status, "cancel_requested": True}

    def cancel_requested(self, job_id: str) -> bool:
        return self.cancel_path(job_id).exists()

    def finish_cancel(self, job_id: str) -> None:
        self.cancel_path(job_id).unlink(missing_ok=True)

    def status(self, job_id: str) -> dict:
        """The job's status file, or ``queued`` for a request the daemon has not taken yet;
        ``cancel_requested`` is true while a cancel waits for the daemon."""
        status = self._status(job_id)
        if status.get("state") not in FINISHED and self.cancel_requested(job_id):
            status["cancel_requested"] = True
        return status

    def _status(self, job_id: str) -> dict:
        path = self.status_path(job_id)
        if path.exists():
            return {**json.loads(path.read_text()), "job_id": job_id}
        request = self.request_path(job_id)
        try:
            return _queued(json.loads(request.read_text()), job_id)
        except FileNotFoundError:
            if path.exists():  # the daemon took the job meanwhile
                return {**json.loads(path.read_text()), "job_id": job_id}
            raise JobError(f"no job {job_id!r} (ita jobs list shows them)") from None
        except json.JSONDecodeError:
            raise JobError(f"job {job_id!r}: request {request.name} is not valid JSON") from None

    def pending(self) -> list[dict]:
        """Requests not yet finished, oldest first. A request that is not valid JSON or does not
        name a job id and kind is marked failed and dropped."""
        if not self.requests.exists():
            return []
        out = []
        for path in sorted(self.requests.glob("*.json")):
            try:
                request = json.loads(path.read_text())
                job_id = checked_job_id(path.stem)
                if not isinstance(request, dict) or not isinstance(request.get("kind"), str):
                    raise JobError(f"request {path.name} names no job kind")
            except FileNotFoundError:  # finished meanwhile
                continue
            except (json.JSONDecodeError, JobError) as error:
                self._drop_bad_request(path, error)
                continue
            out.append({**request, "job_id": job_id})  # the file name is the id
        return out

    def _drop_bad_request(self, path: Path, error: Exception) -> None:
        message = (f"request {path.name} is not valid JSON"
                   if isinstance(error, json.JSONDecodeError) else str(error))
        try:
            self.write_status(path.stem, {"job_id": path.stem, "state": "failed",
                                          "error": message, "finished_at": _now()})
        except JobError:  # the file name itself is not a job id: nothing to report it under
            pass
        path.unlink(missing_ok=True)

    def finish_request(self, job_id: str) -> None:
        self.request_path(job_id).unlink(missing_ok=True)

    def list(self, limit: int = 50) -> list[dict]:
        """The newest `limit` jobs (queued requests included), newest first."""
        ids = {p.stem for folder in (self.jobs, self.requests) if folder.exists()
               for p in folder.glob("*.json") if not p.name.startswith(".")}
        out = []
        for job_id in sorted(ids, reverse=True):
            if len(out) == limit:
                break
            try:
                out.append(self.status(job_id))
            except JobError:  # finished and removed meanwhile, or not a job file
                continue
        return out


def _queued(request: dict, job_id: str) -> dict:
    return {"job_id": job_id, "kind": request.get("kind"), "params": request.get("params", {}),
            "state": "queued", "progress": 0.0, "message": "queued",
            "submitted_at": request.get("submitted_at")}
