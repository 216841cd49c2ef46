"""The daemon's Notion tick: nothing (not one request) without Notion; else the journal
delivered and the parameter edits read."""

from __future__ import annotations

from engine.adapters.notion.config import NotionSettings
from engine.adapters.notion.periodic import notion_tick
from engine.adapters.notion.workspace import setup_workspace
from engine.live.journal import SignalJournal, journal_path
from tests.live._signals import make_signal


def test_without_notion_the_tick_does_nothing(fake, ita_home):
    settings = NotionSettings(api_url=fake.base_url, _env_file=None)
    assert notion_tick(ita_home, settings) is None
    assert fake.requests == []


def test_before_setup_the_tick_does_nothing(fake, notion_env, ita_home):
    assert notion_tick(ita_home, notion_env) is None
    assert fake.requests == []


def test_the_tick_delivers_the_journal_and_survives_an_outage(fake, notion_env, ita_home):
    setup_workspace(ita_home, notion_env)
    with SignalJournal(journal_path(ita_home)) as journal:
        journal.record(make_signal(0))
    fake.outage = True
    [line] = notion_tick(ita_home, notion_env)
    assert line.startswith("journal: 0 delivered, 1 waiting")
    fake.outage = False
    assert notion_tick(ita_home, notion_env)[0] == "journal: 1 delivered, 0 waiting"
