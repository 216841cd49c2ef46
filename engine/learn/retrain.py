"""The daemon's retrain loop: learning models stay current without the trader asking.

Every ``learn_minutes`` (a setting; 0 turns the loop off) the engine daemon checks the active
version of every setup, the first time ``START_DELAY_SECONDS`` after it starts (the app's
start-up and the trader's first requests go first), so a fresh demo home gets its example setups
trained with nothing to do. A version is *due* (`engine.learn.ops.due_for_training`) when it
never had a model and has enough signals for a walk-forward test, or its known outcomes (new
bars: backtest history and live signals whose outcome is now known; new trader's labels on its
signals) grew by 20 % or 50 since its model's training. For a due version the loop submits one
``learn`` job, a job like any other (progress, cancel, ``ita jobs``). The versions with too
few signals of their own share one pooled model (`engine.learn.ops.learn_pool`): the round's
last check is the pool as one (`engine.learn.ops.pool_due`: a small version without a pooled
model, the pool's members changed, or its signals grew by 20 % or 50), and it submits **one**
``learn`` job for the pool (named after its first small member), not one per member.

Cheap and polite:

- The check keys on `engine.learn.ops.inputs_state` (sizes and times of the version's candles,
  the analyst's journal and labels, its models): a version whose inputs did not change since
  its last check is skipped without building its dataset.
- A job is submitted only while the bus has no other job queued or running, so training never
  delays a trader's backtest that is already waiting, and never runs twice at once; one job at
  a time: the next due version is submitted after the previous job has finished. (The daemon
  runs one job at a time: a backtest submitted while a training runs waits for it; a training
  job can be cancelled like any other.)
- What was checked, and why a job was or was not submitted, is in the engine log and in
  ``exchange/learn_loop.json`` (per version: state, due, reason, job id, time). The file also
  keeps the memory across restarts: a version checked before is not checked again until its
  inputs change, and a training the trader cancelled is not submitted again for the same inputs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable

from engine._io import write_json_atomic
from engine.errors import ItaError

STATE_FILE = "learn_loop.json"
POOL = "(pool)"  # the round's last check: the pooled model of the versions with too few signals
START_DELAY_SECONDS = 120.0
log = logging.getLogger("ita.engine")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class RetrainLoop:
    """The retrain checks of one daemon. `step` is called on every turn of the daemon's loop."""

    def __init__(self, settings, bus, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.period = float(settings.learn_minutes) * 60.0
        self.path = settings.exchange_dir / STATE_FILE
        self.next_round = clock() + START_DELAY_SECONDS
        self.queue: list[str] = []
        self.memory = self._read()

    @property
    def enabled(self) -> bool:
        return self.period > 0

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _remember(self, ref: str, **entry) -> None:
        self.memory[ref] = {**entry, "checked_at": _now()}
        write_json_atomic(self.path, self.memory)

    def step(self, setups: dict[str, dict]) -> str | None:
        """One turn: start a round when it is time, then check the round's versions while no
        job waits, until one is due (its ``learn`` job is submitted; returns the job id)."""
        if not self.enabled:
            return None
        if not self.queue and self.clock() >= self.next_round:
            self.queue = [f"{setup_id}@{state['version']}"
                          for setup_id, state in sorted(setups.items())]
            self.queue += [POOL] if len(self.queue) > 1 else []
            self.next_round = self.clock() + self.period
        while self.queue:
            if self.bus.pending():  # the trader's jobs (or the last training) first
                return None
            ref = self.queue.pop(0)
            job_id = self._check_pool() if ref == POOL else self._check(ref)
            if job_id:
                return job_id
        return None

    def _check(self, ref: str) -> str | None:
        from engine.learn.ops import due_for_training, inputs_state

        setup_id, version = ref.rsplit("@", 1)
        try:
            state = inputs_state(self.settings, setup_id, int(version))
            if self.memory.get(ref, {}).get("state") == state:
                return None
            due = due_for_training(self.settings, setup_id, int(version))
        except ItaError as error:
            log.info("retrain %s: not checked: %s", ref, error)
            self._remember(ref, state=None, due=False, reason=f"not checked: {error}")
            return None
        if not due.due:
            log.info("retrain %s: not due: %s", ref, due.reason)
            self._remember(ref, state=state, due=False, reason=due.reason)
            return None
        job_id = self.bus.submit("learn", {"setup": ref})
        log.info("retrain %s: submitted job %s: %s", ref, job_id, due.reason)
        self._remember(ref, state=state, due=True, reason=due.reason, job_id=job_id)
        return job_id

    def _check_pool(self) -> str | None:
        """The pool as one: when the inputs of any active version changed, `pool_due` says
        whether the pooled model must be trained again; then one ``learn`` job (for the first
        small member: `engine.learn.ops.learn` trains the pool and registers it for every
        small member), not one per member."""
        import hashlib

        from engine.learn.ops import active_refs, inputs_state, pool_due

        try:
            refs = active_refs(self.settings)
            digest = hashlib.sha256()
            for ref in refs:
                setup_id, version = ref.rsplit("@", 1)
                digest.update(f"{ref}:{inputs_state(self.settings, setup_id, int(version))}|"
                              .encode())
            state = digest.hexdigest()[:16]
            if self.memory.get(POOL, {}).get("state") == state:
                return None
            due, ref = pool_due(self.settings)
        except ItaError as error:
            log.info("retrain pool: not checked: %s", error)
            self._remember(POOL, state=None, due=False, reason=f"not checked: {error}")
            return None
        if not due.due or ref is None:
            log.info("retrain pool: not due: %s", due.reason)
            self._remember(POOL, state=state, due=False, reason=due.reason)
            return None
        job_id = self.bus.submit("learn", {"setup": ref})
        log.info("retrain pool: submitted job %s (%s): %s", job_id, ref, due.reason)
        self._remember(POOL, state=state, due=True, reason=due.reason, job_id=job_id, setup=ref)
        return job_id
