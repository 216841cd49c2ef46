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


def _queued_album(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three alerts of one close: they go as one album, then one message of buttons."""
    path = tmp_path / ".ita" / "live.sqlite"
    with SignalJournal(path) as journal:
        signals = [make_signal(0, setup_id=setup) for setup in ("a_setup", "b_setup", "c_setup")]
        for score, s in enumerate(signals):
            journal.record(s, score=float(score), channels=["telegram"])
    return path, [s.signal_id for s in reversed(signals)]


@pytest.mark.parametrize(("point", "albums", "buttons"), [
    ("after_mark_sending", (0, 1), (0, 1)),    # nothing left: album and buttons on restart
    ("after_accept", (1, 2), (0, 1)),          # the ambiguous point: the album again, marked
    ("after_send", (1, 1), (0, 1)),            # album recorded: only its buttons on restart
    ("after_buttons_accept", (1, 1), (1, 2)),  # buttons not recorded: only they go again
    ("after_mark_sent", (1, 1), (1, 1)),       # recorded: nothing again
])
def test_kill_during_an_album_then_restart(tmp_path: Path, point: str, albums: tuple[int, int],
                                           buttons: tuple[int, int]) -> None:
    path, ids = _queued_album(tmp_path)
    with FakeTelegram() as fake:
        child = _child(path, fake, point)
        child.communicate(timeout=120)
        assert child.returncode == -signal.SIGKILL
        before = (len(fake.sent("sendMediaGroup")), len(fake.sent("sendMessage")))
        restart = _child(path, fake)
        out, err = restart.communicate(timeout=120)
        assert restart.returncode == 0, err
        after = (len(fake.sent("sendMediaGroup")), len(fake.sent("sendMessage")))
        last_album = fake.sent("sendMediaGroup")[-1]
        last_buttons = fake.sent("sendMessage")[-1]
    assert (before[0], after[0]) == albums and (before[1], after[1]) == buttons
    assert fake.sent("sendPhoto") == []
    assert [signal_of(p.caption) for p in last_album.items] == ids  # best first, every time
    resent = point in {"after_mark_sending", "after_accept"}
    assert all(p.caption.startswith("(resent) ") == resent for p in last_album.items)
    with SignalJournal(path) as journal:
        assert journal.pending("telegram") == []
        for signal_id, photo in zip(ids, last_album.items, strict=True):
            delivery = journal.deliveries(signal_id)["telegram"]
            assert delivery["state"] == "sent"
            assert delivery["message_ids"] == {"4242": photo.message_id}
            assert delivery["buttons"] == {"4242": last_buttons.message_id}
