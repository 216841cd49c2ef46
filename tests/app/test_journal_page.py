"""The Journal page reads like the other pages: versions as "v1 (active)", sessions as
"New York", the analyst's tags and notes in columns wide enough to read; a signal that did not
become a trade can be journaled too."""

from __future__ import annotations

import json

import pytest

from tests.app._pages import page


@pytest.fixture()
def journal_home(run_home, monkeypatch):
    home, run_id = run_home
    monkeypatch.setenv("ITA_HOME", str(home))
    monkeypatch.delenv("ITA_DISPLAY_TZ", raising=False)
    return home, run_id


def test_version_picker_says_which_version_is_active(journal_home) -> None:
    at = page("journal")
    assert at.selectbox(key="journal_version").options == ["v1 (active)"]


def test_trade_picker_and_session_filter_use_session_labels(journal_home) -> None:
    at = page("journal")
    trades = at.selectbox(key="journal_trade").options
    assert trades and not [t for t in trades if "new_york" in t or "_" in t]
    assert any(t.endswith(" · New York") for t in trades)
    sessions = at.multiselect(key="journal_filter_session").options
    assert "New York" in sessions and "new_york" not in sessions


def test_tags_mistakes_and_note_columns_are_wide_enough_to_read(journal_home) -> None:
    at = page("journal")
    table = next(d for d in at.dataframe if "note" in d.value.columns)
    config = json.loads(table.proto.columns)
    widths = {name: config[name].get("width") for name in ("tags", "mistakes", "note")}
    assert all(isinstance(w, int) and w >= 150 for w in widths.values()), widths
    assert widths["note"] >= 300
