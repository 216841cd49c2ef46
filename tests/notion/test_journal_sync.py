"""The signal journal in Notion: one row per alert by its stable id, updated in place, kept
in the outbox while Notion is down and delivered once when it is back."""

from __future__ import annotations

import time

import pytest

from engine.adapters.notion.blocks import plain
from engine.adapters.notion.outbox import Outbox
from engine.adapters.notion.state import NotionState
from engine.adapters.notion.sync import deliver_outbox, sync_journal
from engine.adapters.notion.workspace import setup_workspace
from engine.errors import ConfigurationError
from engine.live.journal import SignalJournal, journal_path
from tests.live._signals import make_signal


@pytest.fixture()
def journal(ita_home):
    with SignalJournal(journal_path(ita_home)) as signals:
        yield signals


@pytest.fixture()
def workspace(fake, notion_env, ita_home):
    setup_workspace(ita_home, notion_env)
    state = NotionState(ita_home, fake.parent)
    return state.database("journal")["data_source_id"]


def _rows(fake, source_id):
    return {plain(p["properties"]["Signal id"]): p["properties"] for p in fake.rows(source_id)}


def test_each_alert_becomes_one_row_and_a_second_sync_sends_nothing(
        fake, notion_env, ita_home, journal, workspace):
    first, second = make_signal(0), make_signal(15, direction=-1, stop=101.0, target=98.0)
    journal.record(first, score=0.82)
    journal.record(second)
    result = sync_journal(ita_home, notion_env)
    assert (result.queued, result.delivered, result.pending) == (2, 2, 0)
    rows = _rows(fake, workspace)
    assert set(rows) == {first.signal_id, second.signal_id}
    row = rows[first.signal_id]
    assert plain(row["Symbol"]) == "BTC/USDT" and plain(row["Direction"]) == "long"
    assert plain(row["Setup"]) == "fvg_retest" and plain(row["Version"]) == 3
    assert (plain(row["Entry"]), plain(row["Stop"]), plain(row["Target"])) == (100, 99, 102)
    assert plain(row["Score"]) == pytest.approx(0.82)
    assert plain(row["Time"]).startswith("2024-03-04T09:00:00")
    assert plain(rows[second.signal_id]["Direction"]) == "short"

    requests = len(fake.requests)
    again = sync_journal(ita_home, notion_env)
    assert (again.queued, again.delivered) == (0, 0)
    assert len(fake.requests) == requests  # not one request
    assert len(fake.rows(workspace)) == 2


def test_a_decision_and_an_outcome_update_the_row_in_place(
        fake, notion_env, ita_home, journal, workspace):
    signal = make_signal(0)
    journal.record(signal)
    sync_journal(ita_home, notion_env)
    journal.set_decision(signal.signal_id, "Taken")
    with journal._write() as db:  # the outcome as the journal's resolver records it
        db.execute("UPDATE signals SET outcome = 'target', outcome_r = 2.0 WHERE signal_id = ?",
                   (signal.signal_id,))
    result = sync_journal(ita_home, notion_env)
    assert (result.queued, result.delivered) == (1, 1)
    rows = fake.rows(workspace)
    assert len(rows) == 1
    props = rows[0]["properties"]
    assert plain(props["Decision"]) == "Taken"
    assert plain(props["Outcome"]) == "target" and plain(props["R"]) == 2.0


def test_lost_local_state_finds_rows_by_their_stable_id(
        fake, notion_env, ita_home, journal, workspace):
    journal.record(make_signal(0))
    sync_journal(ita_home, notion_env)
    state = NotionState(ita_home, fake.parent)
    state.data["rows"] = {}  # as if the answer to the create had been lost
    state.save()
    fake.page_size_max = 1  # and the query answers one row a page
    journal.record(make_signal(15))
    journal.record(make_signal(30))
    sync_journal(ita_home, notion_env)
    assert len(fake.rows(workspace)) == 3


def test_a_429_is_waited_out_as_retry_after_says(fake, notion_env, ita_home, journal,
                                                 workspace):
    journal.record(make_signal(0))
    fake.fail_next("429", path="/v1/pages", retry_after=1)
    start = time.monotonic()
    result = sync_journal(ita_home, notion_env)
    assert time.monotonic() - start >= 0.95
    assert result.delivered == 1 and len(fake.rows(workspace)) == 1


def test_an_outage_keeps_writes_in_the_outbox_and_delivers_them_once_in_order(
        fake, notion_env, ita_home, journal, workspace):
    signals = [make_signal(minute) for minute in (0, 15, 30)]
    for signal in signals:
        journal.record(signal)
    fake.outage = True
    down = sync_journal(ita_home, notion_env)
    assert (down.queued, down.delivered, down.pending) == (3, 0, 3)
    assert "will retry later" in down.error
    assert fake.rows(workspace) == []
    again = sync_journal(ita_home, notion_env)  # still down: nothing queued twice
    assert again.queued == 0 and len(Outbox(ita_home).pending()) == 3

    fake.outage = False
    back = deliver_outbox(ita_home, notion_env)
    assert (back.delivered, back.pending) == (3, 0)
    rows = fake.rows(workspace)
    assert [plain(r["properties"]["Signal id"]) for r in rows] == [s.signal_id for s in signals]
    assert sync_journal(ita_home, notion_env).delivered == 0
    assert len(fake.rows(workspace)) == 3


def test_a_crash_after_notion_confirmed_delivers_again_without_a_second_row(
        fake, notion_env, ita_home, journal, workspace):
    journal.record(make_signal(0))
    outbox = Outbox(ita_home)
    original = Outbox.mark_done
    Outbox.mark_done = lambda self, op: (_ for _ in ()).throw(KeyboardInterrupt())
    try:
        with pytest.raises(KeyboardInterrupt):
            sync_journal(ita_home, notion_env)
    finally:
        Outbox.mark_done = original
    assert len(outbox.pending()) == 1 and len(fake.rows(workspace)) == 1
    state = NotionState(ita_home, fake.parent)
    state.data["rows"] = {}
    state.save()
    assert deliver_outbox(ita_home, notion_env).delivered == 1
    assert len(fake.rows(workspace)) == 1


def test_sync_before_setup_says_to_run_setup(notion_env, ita_home, journal):
    with pytest.raises(ConfigurationError, match="ita notion setup"):
        sync_journal(ita_home, notion_env)


def test_a_row_the_trader_deleted_is_made_again_when_its_alert_changes(
        fake, notion_env, ita_home, journal, workspace):
    signal = make_signal(0)
    journal.record(signal)
    sync_journal(ita_home, notion_env)
    [row] = fake.rows(workspace)
    row["in_trash"] = True  # deleted in Notion
    journal.set_decision(signal.signal_id, "Skipped")
    result = sync_journal(ita_home, notion_env)
    assert result.refused == [] and result.delivered == 1
    [again] = fake.rows(workspace)
    assert again["id"] != row["id"] and plain(again["properties"]["Decision"]) == "Skipped"


def test_a_line_torn_by_a_crash_mid_append_is_ignored(ita_home):
    outbox = Outbox(ita_home)
    outbox.add("journal", "a", {"R": {"number": 1}})
    with outbox.path.open("a") as handle:
        handle.write('{"op_id": "torn", "tab')  # killed mid-write
    outbox.add("journal", "b", {"R": {"number": 2}})
    assert [op.key for op in outbox.pending()] == ["a", "b"]


def test_no_network_at_all_keeps_the_writes_for_later(fake, notion_env, ita_home, journal,
                                                      workspace):
    journal.record(make_signal(0))
    offline = notion_env.model_copy(update={"api_url": "http://127.0.0.1:9"})  # nothing there
    result = sync_journal(ita_home, offline)
    assert (result.delivered, result.pending) == (0, 1)
    assert "Notion did not answer" in result.error
    assert sync_journal(ita_home, notion_env).delivered == 1


def test_the_cli_syncs_and_says_what_waits(fake, notion_env, ita_home, journal, workspace):
    from typer.testing import CliRunner

    from engine.cli import app

    runner = CliRunner()
    journal.record(make_signal(0))
    fake.outage = True
    down = runner.invoke(app, ["notion", "sync-journal"])
    assert down.exit_code == 1 and "queued 1, delivered 0, waiting 1" in down.output
    assert "waiting in the outbox: 1" in runner.invoke(app, ["notion", "status"]).output
    fake.outage = False
    up = runner.invoke(app, ["notion", "sync-journal"])
    assert up.exit_code == 0 and "queued 0, delivered 1, waiting 0" in up.output
    status = runner.invoke(app, ["notion", "status"]).output
    assert "journal rows in Notion: 1" in status and "waiting in the outbox: 0" in status
