"""Stops that costs swamp: the setup's stop guards (`plan.stop.min_atr`,
`plan.stop.min_cost_multiple`) drop and count such signals, and `ita setup validate` warns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from engine import detect
from engine.adapters.store import CandleStore
from engine.cli import app
from engine.setups import compile_setup, parse_setup
from engine.setups.parse import canonical_json
from engine.setups.schema import Stop

CROSS = """\
id: guard
name: SMA cross with a fixed stop
market: {{symbols: [BTC/USDT], timeframe: 1m}}
conditions:
  cross: {{detector: ma_cross, kind: sma, fast: 10, slow: 30}}
signal: cross
plan:
  stop: {{percent: {percent}{guard}}}
  target: {{r_multiple: 2}}
costs: {{fee_bps: 5, slippage_bps: 2}}
"""


def _text(result) -> str:
    """CLI output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _setup(percent: float, guard: str = ""):
    return parse_setup(CROSS.format(percent=percent, guard=guard))


def test_min_cost_multiple_drops_and_counts_stops_within_that_many_round_trips(
        demo_candles) -> None:
    candles = demo_candles.iloc[:6000]
    # a 0.3 % stop is 2.1 round trips of 0.14 %; a 0.5 % stop is 3.6
    plain = compile_setup(_setup(0.3))
    every = plain(candles, symbol="BTC/USDT")
    assert len(every) > 20 and plain.counters["filtered_stop_too_tight"] == 0
    tight = compile_setup(_setup(0.3, ", min_cost_multiple: 3"))
    assert tight(candles, symbol="BTC/USDT").empty
    assert tight.counters == {"dropped_invalid_stop": 0, "filtered_stop_too_tight": len(every)}
    wide = compile_setup(_setup(0.5, ", min_cost_multiple: 3"))
    assert len(wide(candles, symbol="BTC/USDT")) == len(every)
    assert wide.counters["filtered_stop_too_tight"] == 0


def test_min_atr_keeps_the_stops_at_least_that_many_atr_of_the_signal_bar(demo_candles) -> None:
    candles = demo_candles.iloc[:6000]
    every = compile_setup(_setup(0.1))(candles, symbol="BTC/USDT")
    guarded = compile_setup(_setup(0.1, ", min_atr: 1.5"))
    kept = guarded(candles, symbol="BTC/USDT")
    atr = detect.atr(candles, 14)[candles.index.get_indexer(every["known_at"])]
    wide = (every["entry"] - every["stop"]).abs().to_numpy() >= 1.5 * atr
    assert 0 < len(kept) < len(every)  # the guard bites on real bars, and not on all
    assert kept["known_at"].tolist() == every["known_at"][wide].tolist()
    assert guarded.counters["filtered_stop_too_tight"] == int((~wide).sum())


def test_the_guards_are_described_and_leave_old_rules_unchanged() -> None:
    for name in ("min_atr", "min_cost_multiple"):
        assert "filtered_stop_too_tight" in Stop.model_fields[name].description
    # a setup without the guards has the rule (and rule_hash) it had before they existed
    stop = json.loads(canonical_json(_setup(1.0)))["plan"]["stop"]
    assert stop == {"buffer_atr": 0.0, "buffer_pct": 0.0, "level": None, "percent": 1.0}
    guarded = json.loads(canonical_json(_setup(1.0, ", min_cost_multiple: 3")))
    assert guarded["plan"]["stop"]["min_cost_multiple"] == 3.0


def test_run_summary_counts_the_filtered_signals(ita_home, demo_candles) -> None:
    from engine.backtest.run import run_backtest
    from engine.setups.store import SetupStore

    CandleStore.from_settings().upsert(demo_candles.iloc[:6000], source="binanceus",
                                       symbol="BTC/USDT", timeframe="1m")
    SetupStore.from_settings().save(CROSS.format(percent=0.3, guard=", min_cost_multiple: 3"))
    summary = run_backtest("guard").summary
    assert summary["counters"]["filtered_stop_too_tight"] > 0
    assert summary["signals"] == 0 and summary["metrics"]["trades"] == 0


@pytest.fixture()
def stored(ita_home, demo_candles):
    CandleStore.from_settings().upsert(demo_candles.iloc[:6000], source="binanceus",
                                       symbol="BTC/USDT", timeframe="1m")
    return ita_home


def test_validate_warns_when_the_median_stop_is_within_3x_the_costs(stored, tmp_path) -> None:
    tight, wide = tmp_path / "tight.yaml", tmp_path / "wide.yaml"
    tight.write_text(CROSS.format(percent=0.3, guard=""))
    wide.write_text(CROSS.format(percent=0.5, guard=""))
    runner = CliRunner()
    warned = runner.invoke(app, ["setup", "validate", str(tight)])
    assert warned.exit_code == 0, warned.output  # a warning, not a failure
    assert "warning" in warned.output and "2.1x its round-trip costs" in _text(warned)
    fine = runner.invoke(app, ["setup", "validate", str(wide)])
    assert fine.exit_code == 0 and "warning" not in fine.output
    assert "3.6x its round-trip costs" in _text(fine)


def test_validate_says_when_it_could_not_check_the_stops(ita_home, tmp_path) -> None:
    path = tmp_path / "setup.yaml"
    path.write_text(CROSS.format(percent=0.3, guard=""))
    result = CliRunner().invoke(app, ["setup", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "stops not checked" in _text(result)
    assert "no candles stored for 'BTC/USDT'" in _text(result)


def test_round_trip_cost_formula() -> None:
    from engine.setups.compile import round_trip_cost
    from engine.setups.schema import Costs

    assert round_trip_cost(Costs(fee_bps=5, slippage_bps=2), np.float64(25_000)) == \
        pytest.approx(35.0)
