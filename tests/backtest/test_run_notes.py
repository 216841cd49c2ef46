"""Runs for people: readable names, a note beside a run, deletion (atomic), and the CLI."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine._io import remove_stale_temporaries
from engine.adapters.runs import RunStore, run_label
from engine.cli import app
from engine.errors import DataError

SUMMARY = {"setup_id": "sma-cross", "setup_version": 3, "symbol": "BTC/USDT",
           "timeframe": "15m", "data_start": "2023-03-01 00:00:00+00:00",
           "data_end": "2023-03-07 23:45:00+00:00",
           "created_at": "2023-03-09T14:05:31.123+00:00", "metrics": {"trades": 2}}


@pytest.fixture()
def runs(ita_home) -> RunStore:
    store = RunStore.from_settings()
    for run_id in ("20230309T140531123Z-sma-cross-v3", "20230310T090000000Z-sma-cross-v3"):
        store.write(run_id, frames={"trades": pd.DataFrame({"r_multiple": [1.0, -1.0]})},
                    summary={**SUMMARY, "run_id": run_id})
    return store


def test_run_label_is_short_and_readable() -> None:
    assert run_label(SUMMARY) == "sma-cross@3 · BTC/USDT 15m · 2023-03-01→03-07 · 03-09 14:05"
    across_years = {**SUMMARY, "data_start": "2022-12-30", "data_end": "2023-01-02"}
    assert "2022-12-30→2023-01-02" in run_label(across_years)


def test_a_note_sits_beside_the_run_and_leaves_its_results_alone(runs) -> None:
    run_id = runs.ids()[0]
    folder = runs.root / run_id
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    runs.set_note(run_id, "Spread was wide on the 3rd.\n")
    assert (folder / "note.md").read_text() == "Spread was wide on the 3rd.\n"
    assert runs.note(run_id) == "Spread was wide on the 3rd.\n"
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "note.md"} == before
    assert runs.list().set_index("run_id").loc[run_id, "note"] == "Spread was wide on the 3rd."
    assert runs.list().set_index("run_id").loc[run_id, "name"].startswith("sma-cross@3 · ")
    runs.set_note(run_id, "  ")
    assert not (folder / "note.md").exists() and runs.note(run_id) == ""
    with pytest.raises(DataError, match="limit is 20,000"):
        runs.set_note(run_id, "x" * 20_001)
    with pytest.raises(DataError, match="no run 'nope'"):
        runs.set_note("nope", "text")


def test_delete_removes_the_run_and_a_killed_delete_leaves_no_run(runs, monkeypatch) -> None:
    newest, older = runs.ids()
    runs.delete(newest)
    assert runs.ids() == [older] and not (runs.root / newest).exists()
    assert [p.name for p in runs.root.iterdir()] == [older]
    with pytest.raises(DataError, match=f"no run '{newest}'"):
        runs.delete(newest)

    import engine.adapters.runs as module

    def killed(path):
        raise KeyboardInterrupt  # the process dies after the rename, before the removal

    monkeypatch.setattr(module.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        runs.delete(older)
    monkeypatch.undo()
    assert runs.ids() == [] and runs.list().empty  # already gone for every reader
    leftovers = [p for p in runs.root.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(f".{older}.")
    assert remove_stale_temporaries(runs.root, older_than=0) == leftovers


def test_cli_deletes_after_asking_and_writes_notes(runs) -> None:
    newest, older = runs.ids()
    runner = CliRunner()
    kept = runner.invoke(app, ["runs", "delete", newest], input="n\n")
    assert kept.exit_code == 1 and "sma-cross@3 · BTC/USDT 15m" in kept.output
    assert runs.ids() == [newest, older]
    gone = runner.invoke(app, ["runs", "delete", newest], input="y\n")
    assert gone.exit_code == 0 and f"deleted run {newest}" in gone.output
    assert runs.ids() == [older]
    assert runner.invoke(app, ["runs", "delete", older, "--yes"]).exit_code == 0
    assert runs.ids() == []
    missing = runner.invoke(app, ["runs", "delete", older, "--yes"])
    assert isinstance(missing.exception, DataError)  # main() prints it as one line


def test_cli_note_writes_prints_and_removes(runs) -> None:
    run_id = runs.ids()[0]
    runner = CliRunner()
    saved = runner.invoke(app, ["runs", "note", run_id, "Re-run with 2 bps slippage [next]"])
    assert saved.exit_code == 0 and "saved the note" in saved.output
    shown = runner.invoke(app, ["runs", "note", run_id])
    assert "Re-run with 2 bps slippage [next]" in shown.output
    assert runner.invoke(app, ["runs", "note", run_id, ""]).exit_code == 0
    assert runs.note(run_id) == ""
    assert "has no note" in runner.invoke(app, ["runs", "note", run_id]).output
