"""The demo replay's keeper starts in a real server only, never in a test process."""

from __future__ import annotations

from unittest.mock import MagicMock

from streamlit.runtime import Runtime


def test_the_keeper_does_not_start_under_apptests_mock_runtime(monkeypatch) -> None:
    """A warm-up thread that ends while an AppTest page runs (its mock Runtime in place) must
    not start the keeper: it would outlive the test and build demo replays, with their log
    lines, in the ITA homes of the tests after it (a live-monitor test failed on them)."""
    from app import state

    started = []
    monkeypatch.setattr(state, "_keeper_thread", None)
    monkeypatch.setattr(state, "keep_demo_replay", lambda: started.append(True))
    monkeypatch.setattr(Runtime, "_instance", MagicMock(spec=Runtime))  # as AppTest.run does
    state._start_keeper()
    if state._keeper_thread is not None:
        state._keeper_thread.join(timeout=5)
    assert state._keeper_thread is None and not started
