"""Deleting a series and renaming a symbol: the store methods and `ita data delete|rename`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import filelock
import pytest
from typer.testing import CliRunner

import engine.adapters.store as store_module
from engine.adapters.store import CandleStore
from engine.cli import app
from engine.errors import DataError, TemporaryError
from engine.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


def _listed(store: CandleStore) -> list[tuple[str, str, str]]:
    return [(s.source, s.symbol, s.timeframe) for s in store.series()]


@pytest.fixture()
def store(tmp_path, demo_candles) -> CandleStore:
    store = CandleStore(tmp_path / "candles")
    hourly = demo_candles.resample("1h").agg({"open": "first", "high": "max", "low": "min",
                                              "close": "last", "volume": "sum"})
    store.upsert(demo_candles.iloc[:600], source="csv", symbol="EURUSD", timeframe="1m")
    store.upsert(hourly, source="csv", symbol="EURUSD", timeframe="1h")
    store.upsert(demo_candles.iloc[:50], source="csv", symbol="GBPUSD", timeframe="1m")
    return store


def test_delete_removes_one_series(store) -> None:
    assert store.delete(symbol="EURUSD", timeframe="1m") == "csv"
    assert _listed(store) == [("csv", "EURUSD", "1h"), ("csv", "GBPUSD", "1m")]
    with pytest.raises(DataError, match=r"'EURUSD' 1m from csv is not stored \(stored "
                                        r"timeframes: 1h\); nothing deleted"):
        store.delete(symbol="EURUSD", timeframe="1m")


def test_a_symbol_with_every_series_deleted_is_not_stored(store) -> None:
    store.delete(symbol="GBPUSD", timeframe="1m")
    with pytest.raises(DataError, match="no candles stored for 'GBPUSD'"):
        store.read("GBPUSD", "1m")


def test_delete_waits_for_a_writer_of_the_series(store, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT", 0.2)
    path = store.path("csv", "EURUSD", "1m")
    with filelock.FileLock(f"{path}.lock"), pytest.raises(TemporaryError, match="try again"):
        store.delete(symbol="EURUSD", timeframe="1m")
    assert path.exists()


def test_rename_moves_every_timeframe(store, demo_candles) -> None:
    before = store.read("EURUSD", "1h")
    assert store.rename("EURUSD", to="EURUSD.m") == ("csv", ["1m", "1h"])
    assert _listed(store) == [("csv", "EURUSD.m", "1h"), ("csv", "EURUSD.m", "1m"),
                              ("csv", "GBPUSD", "1m")]
    assert store.read("EURUSD.m", "1h").equals(before)
    with pytest.raises(DataError, match="no candles stored for 'EURUSD'"):
        store.read("EURUSD", "1m")
    assert store.rename("EURUSD.m", to="EURUSD") == ("csv", ["1m", "1h"])  # and back


def test_rename_never_overwrites(store) -> None:
    before = _digest(store.root)
    with pytest.raises(DataError, match=r"'GBPUSD' already has candles from csv \(1m\); delete"
                                        r" them first or choose another name; nothing renamed"):
        store.rename("EURUSD", to="GBPUSD")
    assert _digest(store.root) == before


@pytest.mark.parametrize("name", ["..", ".hidden", "CON", ""])
def test_rename_target_goes_through_the_name_rules(store, name) -> None:
    before = _digest(store.root)
    with pytest.raises(DataError, match="symbol"):
        store.rename("EURUSD", to=name)
    assert _digest(store.root) == before


def test_rename_holds_the_series_locks(store, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT", 0.2)
    before = _digest(store.root)
    target = store.path("csv", "EURUSD.m", "1h")
    target.parent.mkdir(parents=True)
    with filelock.FileLock(f"{target}.lock"), pytest.raises(TemporaryError):
        store.rename("EURUSD", to="EURUSD.m")
    assert _digest(store.root) == before


# --- the CLI ------------------------------------------------------------------------------

@pytest.fixture()
def home_store(ita_home, demo_candles) -> CandleStore:
    store = CandleStore.from_settings(get_settings())
    store.upsert(demo_candles.iloc[:100], source="csv", symbol="EURUSD", timeframe="1m")
    store.upsert(demo_candles.iloc[:100], source="csv", symbol="GBPUSD", timeframe="1m")
    return store


def test_cli_delete_with_yes(home_store) -> None:
    result = CliRunner().invoke(app, ["data", "delete", "--symbol", "EURUSD", "--timeframe",
                                      "1m", "--yes"])
    assert result.exit_code == 0, result.output
    assert "deleted EURUSD 1m (csv)" in result.output
    assert _listed(home_store) == [("csv", "GBPUSD", "1m")]


def test_cli_delete_without_a_terminal_or_yes_is_refused(home_store) -> None:
    result = CliRunner().invoke(app, ["data", "delete", "--symbol", "EURUSD", "--timeframe",
                                      "1m"])
    assert result.exit_code == 1
    assert str(result.exception) == ("not deleting EURUSD 1m (csv) without a confirmation: no "
                                     "terminal to ask on; add --yes")
    assert len(_listed(home_store)) == 2


@pytest.mark.parametrize("answer,left", [("y\n", 1), ("n\n", 2), ("\n", 2)])
def test_cli_delete_asks_at_a_terminal(home_store, monkeypatch, answer, left) -> None:
    monkeypatch.setattr("engine.cli.data._can_ask", lambda: True)
    result = CliRunner().invoke(app, ["data", "delete", "--symbol", "EURUSD", "--timeframe",
                                      "1m"], input=answer)
    assert result.exit_code == 0, result.output
    assert "Delete EURUSD 1m (csv) for good? [y/N]" in result.output
    assert len(_listed(home_store)) == left


def test_cli_rename_and_its_refusal(home_store) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["data", "rename", "--symbol", "EURUSD", "--to", "EURUSD.m"])
    assert result.exit_code == 0, result.output
    assert "renamed EURUSD to EURUSD.m (csv): 1m" in result.output
    refused = runner.invoke(app, ["data", "rename", "--symbol", "EURUSD.m", "--to", "GBPUSD"])
    assert refused.exit_code == 1 and "already has candles" in str(refused.exception)
    assert _listed(home_store) == [("csv", "EURUSD.m", "1m"), ("csv", "GBPUSD", "1m")]


def test_cli_delete_from_a_script_is_one_red_line(home_store, ita_home) -> None:
    result = subprocess.run([sys.executable, "-m", "engine.cli", "data", "delete", "--symbol",
                             "EURUSD", "--timeframe", "1m"], cwd=ROOT, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "ITA_HOME": str(ita_home),
                                 "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: not deleting EURUSD 1m (csv) without a "
                                     "confirmation: no terminal to ask on; add --yes")
    assert len(_listed(home_store)) == 2


def test_cli_import_of_a_mismatched_timeframe_is_one_red_line(home_store, ita_home,
                                                              tmp_path, demo_candles) -> None:
    path = tmp_path / "EURUSD_H1.csv"
    demo_candles.iloc[::60].rename_axis("time").to_csv(path)
    result = subprocess.run([sys.executable, "-m", "engine.cli", "data", "import", str(path),
                             "--symbol", "EURUSD", "--timeframe", "1m"], cwd=ROOT,
                            capture_output=True, text=True,
                            env={**os.environ, "ITA_HOME": str(ita_home),
                                 "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: EURUSD_H1.csv: bars are 1h apart but --timeframe "
                                     "1m was given; use --timeframe 1h")
    assert len(home_store.read("EURUSD", "1m")) == 100
