"""The parameter table round trip: edit in Notion → validated → new setup version → status
written back; an invalid edit saves nothing; a deleted column is reported, not crashed on."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.adapters.notion.blocks import plain
from engine.adapters.notion.params import pull_parameters, push_parameters, setup_parameters
from engine.adapters.notion.state import NotionState
from engine.adapters.notion.workspace import setup_workspace
from engine.setups.store import SetupStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "setups"


@pytest.fixture()
def table(fake, notion_env, ita_home):
    store = SetupStore(ita_home / "setups")
    for name in ("sma-cross.yaml", "pdh-sweep-reversal.yaml"):
        store.save((EXAMPLES / name).read_text(encoding="utf-8"))
    setup_workspace(ita_home, notion_env)
    assert push_parameters(ita_home, notion_env, store) == 2
    source = NotionState(ita_home, fake.parent).database("parameters")["data_source_id"]
    return store, source


def _row(fake, source, setup_id):
    [row] = [r for r in fake.rows(source) if plain(r["properties"]["Setup id"]) == setup_id]
    return row


def _edit(fake, source, setup_id, column, value):
    _row(fake, source, setup_id)["properties"][column]["number"] = value


def test_the_columns_are_the_optimise_keys_and_the_plan_numbers(fake, table):
    store, source = table
    sma = store.load("sma-cross")
    columns = list(setup_parameters(sma.setup))
    assert columns[:2] == ["conditions.cross.fast", "conditions.cross.slow"]  # optimise first
    assert {"plan.stop.percent", "plan.target.percent", "plan.entry.expiry_bars"} <= set(columns)
    assert all(c.startswith("plan.") for c in columns[2:])
    row = _row(fake, source, "sma-cross")["properties"]
    assert plain(row["conditions.cross.fast"]) == 10 and plain(row["plan.target.percent"]) == 2
    assert plain(row["Version"]) == 1 and plain(row["Setup"]) == sma.setup.name


def test_an_edit_becomes_a_new_version_and_the_row_says_so(fake, notion_env, ita_home, table):
    store, source = table
    _edit(fake, source, "sma-cross", "plan.target.percent", 2.5)
    [outcome] = pull_parameters(ita_home, notion_env, store)
    assert outcome.saved_version == 2
    new = store.load("sma-cross")
    assert new.version == 2 and new.setup.plan.target.percent == 2.5
    assert new.setup.conditions["cross"].fast == 10  # the rest unchanged
    row = _row(fake, source, "sma-cross")["properties"]
    assert plain(row["ITA status"]) == "saved v2: plan.target.percent 2 → 2.5"
    assert plain(row["Version"]) == 2
    assert pull_parameters(ita_home, notion_env, store) == []  # nothing new: nothing saved


def test_an_invalid_edit_saves_nothing_and_the_row_says_why(fake, notion_env, ita_home, table):
    store, source = table
    _edit(fake, source, "sma-cross", "plan.stop.percent", -1)
    [outcome] = pull_parameters(ita_home, notion_env, store)
    assert outcome.saved_version is None
    assert store.active("sma-cross") == 1 and len(store.versions("sma-cross")) == 1
    status = plain(_row(fake, source, "sma-cross")["properties"]["ITA status"])
    assert status.startswith("error: ") and "plan.stop.percent" in status
    assert status.endswith("nothing saved")


def test_a_deleted_column_is_reported_not_crashed_on(fake, notion_env, ita_home, table):
    store, source = table
    del fake.data_sources[source]["properties"]["conditions.cross.slow"]
    for row in fake.rows(source):
        row["properties"].pop("conditions.cross.slow", None)
    outcomes = {o.setup_id: o for o in pull_parameters(ita_home, notion_env, store)}
    assert "column 'conditions.cross.slow' is missing" in outcomes["sma-cross"].status
    assert len(store.versions("sma-cross")) == 1


def test_the_cli_pushes_and_pulls(fake, notion_env, ita_home, table):
    from typer.testing import CliRunner

    from engine.cli import app

    store, source = table
    runner = CliRunner()
    assert "2 setup(s)" in runner.invoke(app, ["notion", "push-params"]).output
    assert "no edits" in runner.invoke(app, ["notion", "pull"]).output
    _edit(fake, source, "sma-cross", "conditions.cross.fast", 15)
    result = runner.invoke(app, ["notion", "pull"])
    assert result.exit_code == 0, result.output
    assert "sma-cross: saved v2: conditions.cross.fast 10 → 15" in result.output
    assert store.load("sma-cross").setup.conditions["cross"].fast == 15
