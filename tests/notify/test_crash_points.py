"""No alert twice, none lost: a real delivery process killed with SIGKILL at each point of the
outbox loop, then restarted, against the fake Bot API.

Expected (engine/live/journal.py): every signal reaches the chat; exactly once, except when the
process died after Telegram accepted the alert and before the journal recorded its message id
(`after_accept`, or while Telegram held the request): then the restart sends it again, marked
"(resent)"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.live.journal import SignalJournal
from tests.fakes.telegram_api import FakeTelegram
from tests.live._signals import make_signal
from tests.notify._alerts import signal_of

ROOT = Path(__file__).resolve().parents[2]


def _child(journal_file: Path, fake: FakeTelegram, crash_point: str | None = None
           ) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "ITA_CRASH_POINT"}
    env["PYTHONPATH"] = str(ROOT)
    if crash_point:
        env["ITA_CRASH_POINT"] = crash_point
    return subprocess.Popen([sys.executable, "-m", "tests.notify._deliver_child",
                             str(journal_file), fake.base_url], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _queued(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / ".ita" / "live.sqlite"
    with SignalJournal(path) as journal:
        signals = [make_signal(m) for m in (0, 15, 30)]
        for s in signals:
            journal.record(s, channels=["telegram"])
    return path, [s.signal_id for s in signals]


def _restart_and_check(path: Path, fake: FakeTelegram, ids: list[str],
                       twice: set[str]) -> list[str]:
    child = _child(path, fake)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    captions = [r.caption for r in fake.sent()]
    counts = Counter(signal_of(c) for c in captions)
    assert counts == {i: 2 if i in twice else 1 for i in ids}
    with SignalJournal(path) as journal:
        assert journal.pending("telegram") == []
        assert {journal.deliveries(i)["telegram"]["state"] for i in ids} == {"sent"}
    return captions


@pytest.mark.parametrize(("point", "duplicated"), [
    ("after_mark_sending", False),  # nothing left the machine: sent once, on restart
    ("after_accept", True),         # Telegram has it, the journal does not: the ambiguous case
    ("after_send", False),          # the chat's message id was recorded: not sent again
    ("after_mark_sent", False),     # recorded: never sent again
])
def test_kill_at_a_crash_point_then_restart(tmp_path: Path, point: str, duplicated: bool) -> None:
    path, ids = _queued(tmp_path)
    with FakeTelegram() as fake:
        child = _child(path, fake, point)
        child.communicate(timeout=120)
        assert child.returncode == -signal.SIGKILL
        before = len(fake.sent())
        captions = _restart_and_check(path, fake, ids, {ids[0]} if duplicated else set())
    assert before == (0 if point == "after_mark_sending" else 1)
    resent = [c for c in captions if c.startswith("(resent) ")]
    # an alert whose sending was never confirmed goes out again, marked; nothing else is marked
    assert [signal_of(c) for c in resent] == ([ids[0]] if point in {
        "after_mark_sending", "after_accept"} else [])


def test_kill_while_telegram_holds_the_request(tmp_path: Path) -> None:
    path, ids = _queued(tmp_path)
    with FakeTelegram() as fake:
        fake.fail_next("hold", method="sendPhoto")  # delivered, the answer never comes back
        child = _child(path, fake)
        assert fake.held.wait(60)
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=60)
        fake.release()
        captions = _restart_and_check(path, fake, ids, {ids[0]})
    assert captions[1] == "(resent) " + captions[0]
