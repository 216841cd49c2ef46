"""The parameter table's Diff column: a saved edit writes the YAML diff (old → new version,
`SetupStore.diff`) next to Version and ITA status, split at Notion's 2,000-character limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.adapters.notion.blocks import plain
from engine.adapters.notion.params import pull_parameters, push_parameters
from engine.adapters.notion.state import NotionState
from engine.adapters.notion.workspace import DIFF_COLUMN, setup_workspace
from engine.setups.store import SetupStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "setups"


@pytest.fixture()
def table(fake, notion_env, ita_home):
    store = SetupStore(ita_home / "setups")
    store.save((EXAMPLES / "sma-cross.yaml").read_text(encoding="utf-8"))
    setup_workspace(ita_home, notion_env)
    push_parameters(ita_home, notion_env, store)
    source = NotionState(ita_home, fake.parent).database("parameters")["data_source_id"]
    return store, source


def _row(fake, source):
    [row] = fake.rows(source)
    return row["properties"]


def test_a_saved_edit_writes_the_diff_beside_version_and_status(fake, notion_env, ita_home,
                                                                 table):
    store, source = table
    _row(fake, source)["plan.target.percent"]["number"] = 2.5
    [outcome] = pull_parameters(ita_home, notion_env, store)
    row = _row(fake, source)
    assert plain(row["Version"]) == 2 and plain(row["ITA status"]).startswith("saved v2")
    diff = plain(row[DIFF_COLUMN])
    assert diff == store.diff("sma-cross", 1, 2) == outcome.diff
    assert "--- sma-cross v1" in diff and "+++ sma-cross v2" in diff
    assert any(line.startswith("+") and "2.5" in line for line in diff.splitlines())


def test_an_invalid_edit_leaves_the_diff_alone(fake, notion_env, ita_home, table):
    store, source = table
    _row(fake, source)["plan.stop.percent"]["number"] = -1
    pull_parameters(ita_home, notion_env, store)
    assert not plain(_row(fake, source).get(DIFF_COLUMN))


def test_a_long_diff_is_split_at_2000_characters(fake, notion_env, ita_home, table,
                                                  monkeypatch):
    store, source = table
    long_diff = "".join(f"+line {i} " + "x" * 60 + "\n" for i in range(100))  # ~7,000 chars
    monkeypatch.setattr(SetupStore, "diff", lambda self, setup_id, old, new: long_diff)
    _row(fake, source)["plan.target.percent"]["number"] = 3
    pull_parameters(ita_home, notion_env, store)
    items = _row(fake, source)[DIFF_COLUMN]["rich_text"]
    assert len(items) > 3 and all(len(i["text"]["content"]) <= 2000 for i in items)
    assert plain(_row(fake, source)[DIFF_COLUMN]) == long_diff


def test_a_table_made_before_the_diff_column_gets_it(fake, notion_env, ita_home, table):
    store, source = table
    del fake.data_sources[source]["properties"][DIFF_COLUMN]
    for row in fake.rows(source):
        row["properties"].pop(DIFF_COLUMN, None)
    _row(fake, source)["plan.target.percent"]["number"] = 2.5
    [outcome] = pull_parameters(ita_home, notion_env, store)
    assert outcome.saved_version == 2
    assert DIFF_COLUMN in fake.data_sources[source]["properties"]
    assert plain(_row(fake, source)[DIFF_COLUMN]) == store.diff("sma-cross", 1, 2)
