"""Run ids from users (the CLI, the app's URL) cannot reach outside ``runs/``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.adapters.runs import RunStore
from engine.errors import DataError


@pytest.fixture()
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"setup_id": "not a run"}))
    pd.DataFrame({"r": [1.0]}).to_parquet(folder / "trades.parquet")
    return folder


@pytest.mark.parametrize("bad", ["../outside", "..", "a/b", "a\\b", "x\x00", "COM1", ".hidden",
                                 ""])
def test_run_ids_cannot_escape_the_runs_folder(tmp_path, outside, bad) -> None:
    runs = RunStore(tmp_path / "runs")
    message = "run id( .*)? (is not allowed|must be a non-empty|is a reserved)"
    for call in (lambda: runs.summary(bad), lambda: runs.frame(bad, "trades"),
                 lambda: runs.write(bad, frames={}, summary={})):
        with pytest.raises(DataError, match=message):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside"]


def test_run_table_names_cannot_escape_the_run(tmp_path, outside) -> None:
    runs = RunStore(tmp_path / "runs")
    runs.write("20240101T000000000Z-demo-v1", frames={"trades": pd.DataFrame({"r": [2.0]})},
               summary={"setup_id": "demo"})
    assert runs.frame("20240101T000000000Z-demo-v1", "trades")["r"].tolist() == [2.0]
    with pytest.raises(DataError, match="run table '../../outside/trades' is not allowed"):
        runs.frame("20240101T000000000Z-demo-v1", "../../outside/trades")


def test_folders_that_are_not_run_ids_are_not_listed(tmp_path) -> None:
    runs = RunStore(tmp_path)
    runs.write("20240101T000000000Z-demo-v1", frames={}, summary={"setup_id": "demo"})
    (tmp_path / "not a run").mkdir()
    (tmp_path / "not a run" / "summary.json").write_text("{}")
    assert runs.ids() == ["20240101T000000000Z-demo-v1"]
    assert runs.list()["run_id"].tolist() == ["20240101T000000000Z-demo-v1"]
