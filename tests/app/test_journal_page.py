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


def signals_listed(at):
    return next(d for d in at.dataframe if "entry_type" in d.value.columns).value


def test_a_signal_that_did_not_become_a_trade_can_be_journaled(journal_home, tmp_path,
                                                                monkeypatch) -> None:
    import shutil

    from engine.adapters.journal import JournalStore
    from engine.adapters.runs import RunStore

    home = tmp_path / "home"
    shutil.copytree(journal_home[0], home)
    monkeypatch.setenv("ITA_HOME", str(home))
    run_id = journal_home[1]
    runs = RunStore.from_settings()
    signals, trades = runs.frame(run_id, "signals"), runs.frame(run_id, "trades")
    at = page("journal")
    at.session_state["journal_tabs"] = "Signals not traded"
    at.run()
    untraded = signals_listed(at)
    assert 0 < len(untraded) == len(signals) - len(trades)
    traded = set(trades["signal_time"].dt.tz_localize(None).dt.floor("min"))
    assert not traded & set(untraded["signal_time"])
    picker = at.selectbox(key="journal_signal")
    picker.set_value(1).run()
    box = at.text_area[0]  # the Signals tab's form (the only tab built)
    box.input("Skipped: I was still in the previous trade, would have hit 2 R")
    [t for t in at.text_input if t.key == box.key.replace("note", "tags")][0].input("missed")
    at.button(key="journal_save_signal").click().run()
    assert not at.exception, [e.value for e in at.exception]
    entry = JournalStore.from_settings().get(box.key.removeprefix("journal_note_"))
    assert entry is not None and entry.tags == ["missed"]
    assert entry.note.startswith("Skipped: I was still")
    assert entry.signal_time.startswith(str(untraded["signal_time"].iloc[1])[:16].replace(" ",
                                                                                        "T"))
    listed = signals_listed(at)
    assert listed["note"].iloc[1].startswith("Skipped") and list(listed["tags"].iloc[1]) == [
        "missed"]
