"""The setup language: errors, the version store, examples, combinators, no look-ahead and
determinism of compiled setups, and the setup CLI."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.candles import resample
from engine.cli import app
from engine.errors import SetupError
from engine.setups import apply_parameters, compile_setup, dump_setup, parse_setup
from engine.setups.store import SetupStore

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "setups").glob("*.yaml"))
MINIMAL = """\
id: demo
name: Demo
market: {timeframe: 1m}
conditions:
  gap:
    detector: fvg
    min_size_atr: 0.5
signal: gap
plan:
  stop: {percent: 1}
  target: {r_multiple: 2}
"""


@pytest.mark.parametrize("change,message", [
    (("min_size_atr: 0.5", "min_sise_atr: 0.5"),
     "demo.yaml:7: conditions.gap.min_sise_atr: unknown field 'min_sise_atr' — did you mean "
     "'min_size_atr'?"),
    (("min_size_atr: 0.5", "min_size_atr: -1"),
     "demo.yaml:7: conditions.gap.min_size_atr: Input should be greater than or equal to 0"),
    (("detector: fvg", "detector: fvgg"), "demo.yaml:6: conditions.gap.detector: unknown "
                                          "detector 'fvgg' — did you mean 'fvg'?"),
    (("signal: gap", "signal: gapp"), "demo.yaml:8: signal: signal uses unknown condition "
                                      "'gapp' — did you mean 'gap'?"),
    (("stop: {percent: 1}", "stop: {level: gapp.top}"),
     "demo.yaml:10: plan.stop.level: unknown condition 'gapp' — did you mean 'gap'?"),
    (("timeframe: 1m", "timeframe: 7m"), "demo.yaml:3: market.timeframe: Value error, must be"),
])
def test_schema_errors_name_line_field_and_fix(change, message) -> None:
    with pytest.raises(SetupError) as error:
        parse_setup(MINIMAL.replace(*change), source="demo.yaml")
    assert str(error.value).replace("Value error, ", "").startswith(
        message.replace("Value error, ", ""))
    assert "\n" not in str(error.value)


def test_yaml_syntax_error_and_unsafe_tags_are_refused() -> None:
    with pytest.raises(SetupError, match="not valid YAML"):
        parse_setup("a: [1,", source="x.yaml")
    with pytest.raises(SetupError, match="not valid YAML"):
        parse_setup("!!python/object/apply:os.system ['echo hi']", source="x.yaml")


def test_store_versions_are_immutable_and_identical_saves_are_free(tmp_path) -> None:
    store = SetupStore(tmp_path)
    v1 = store.save(MINIMAL)
    assert (v1.version, store.save(MINIMAL).version) == (1, 1)
    v2 = store.save(MINIMAL.replace("min_size_atr: 0.5", "min_size_atr: 0.7"))
    assert v2.version == 2 and store.active("demo") == 2
    assert store.load("demo", 1).text == v1.text  # v1 untouched
    diff = store.diff("demo", 1, 2)
    assert "-    min_size_atr: 0.5" in diff and "+    min_size_atr: 0.7" in diff
    store.activate("demo", 1)  # roll back
    assert store.load("demo").version == 1 and store.load("demo@2").version == 2


def test_invalid_text_never_replaces_the_active_version(tmp_path) -> None:
    store = SetupStore(tmp_path)
    store.save(MINIMAL)
    with pytest.raises(SetupError):
        store.save(MINIMAL.replace("min_size_atr: 0.5", "min_size_atr: -3"))
    assert store.active("demo") == 1 and len(store.versions("demo")) == 1
    assert not list(tmp_path.glob("demo/*.tmp"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_yields_signals_on_the_demo_candles(path, demo_candles) -> None:
    setup = parse_setup(path.read_text(), source=path.name)
    candles = resample(demo_candles, setup.market.timeframe)
    signals = compile_setup(setup, version=1)(candles, symbol="BTC/USDT")
    assert len(signals) > 0
    d = signals["direction"]
    assert ((signals["stop"] - signals["entry"]) * d < 0).all()
    assert ((signals["target"] - signals["entry"]) * d > 0).all()
    for known_at, text in zip(signals["known_at"], signals["reasons"], strict=True):
        reasons = json.loads(text)
        assert reasons, "every signal names the detections behind it"
        for reason in reasons:  # an explanation never cites what was not yet known
            assert reason["condition"] in setup.conditions
            assert pd.Timestamp(reason["at"]) <= pd.Timestamp(reason["known_at"]) <= known_at
            assert reason["bottom"] <= reason["top"]


def test_sequence_window_edges() -> None:
    text = """\
id: seq
name: Sequence
market: {timeframe: 1m}
conditions:
  up: {detector: ma_cross, kind: sma, fast: 2, slow: 3, direction: bullish}
  above: {detector: ma_trend, kind: sma, period: 2, direction: bullish}
signal:
  sequence: [up, above]
  within_bars: 2
plan: {stop: {percent: 1}, target: {r_multiple: 1}}
"""
    setup = parse_setup(text)
    close = np.array([5, 4, 3, 4, 5, 4.4, 4.45, 4.5, 4.55, 4.6])
    index = pd.date_range("2024-01-01", periods=len(close), freq="1min", tz="UTC")
    candles = pd.DataFrame({"open": close, "high": close + 0.1, "low": close - 0.1,
                            "close": close, "volume": 1.0}, index=index)
    evaluated = compile_setup(setup).evaluate(candles)
    cross = np.flatnonzero(evaluated["up"].active)
    above = evaluated["above"].active
    signals = compile_setup(setup)(candles, symbol="X")
    bars = candles.index.get_indexer(signals["known_at"])
    for bar in bars:  # each signal: trend true now, a cross at most 2 bars before
        assert above[bar] and any(0 <= bar - c <= 2 for c in cross)
    expected = [b for b in range(len(close)) if above[b] and any(0 <= b - c <= 2 for c in cross)]
    assert bars.tolist() == expected


@settings(max_examples=12, deadline=None)
@given(cut=st.integers(300, 8000), example=st.sampled_from(
    ["sma-cross", "london-asia-sweep-fvg", "ny-fvg-continuation", "bos-order-block-retest",
     "pdh-sweep-reversal"]))
def test_compiled_setups_do_not_look_ahead(cut, example, demo_candles) -> None:
    path = next(p for p in EXAMPLES if p.stem == example)
    setup = parse_setup(path.read_text())
    candles = resample(demo_candles, setup.market.timeframe).iloc[:9000]
    cut = min(cut, len(candles) - 1)
    compiled = compile_setup(setup)
    full = compiled(candles, symbol="BTC/USDT")
    part = compiled(candles.iloc[: cut + 1], symbol="BTC/USDT")
    known = full[full["known_at"] <= candles.index[cut]].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, known)


def test_same_version_same_data_byte_identical_signals(demo_candles) -> None:
    setup = parse_setup(EXAMPLES[1].read_text())
    candles = resample(demo_candles, setup.market.timeframe)

    def digest() -> str:
        buffer = io.BytesIO()
        compile_setup(setup, version=3)(candles, symbol="BTC/USDT").to_parquet(buffer)
        return hashlib.sha256(buffer.getvalue()).hexdigest()

    assert digest() == digest()


def test_parameters_apply_and_are_validated() -> None:
    setup = parse_setup(next(p for p in EXAMPLES if p.stem == "sma-cross").read_text())
    changed = apply_parameters(setup, {"conditions.cross.fast": 5.0,
                                       "plan.target.percent": 3.0})
    assert changed.conditions["cross"].fast == 5 and changed.plan.target.percent == 3.0
    with pytest.raises(SetupError, match="invalid"):
        apply_parameters(setup, {"conditions.cross.fast": 40})  # fast above slow
    assert parse_setup(dump_setup(changed)).model_dump() == changed.model_dump()


def test_setup_cli(ita_home, tmp_path) -> None:
    runner = CliRunner()
    example = next(p for p in EXAMPLES if p.stem == "sma-cross")
    assert "OK" in runner.invoke(app, ["setup", "validate", str(example)]).output
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("detector: fvg", "detector: fvgg"))
    result = runner.invoke(app, ["setup", "validate", str(bad)])
    assert result.exit_code != 0
    assert runner.invoke(app, ["setup", "save", str(example)]).exit_code == 0
    changed = tmp_path / "v2.yaml"
    changed.write_text(example.read_text().replace("fast: 10", "fast: 12"))
    assert "version 2" in runner.invoke(app, ["setup", "save", str(changed)]).output
    assert "sma-cross" in runner.invoke(app, ["setup", "list"]).output
    assert "fast: 12" in runner.invoke(app, ["setup", "diff", "sma-cross", "1", "2"]).output
    assert "version 1 is active" in runner.invoke(app, ["setup", "activate", "sma-cross",
                                                        "1"]).output


CONTEXT_SETUP = """\
id: ctx
name: 1m entries under a 1h EMA filter
market: {timeframe: 1m, context_timeframe: 1h}
conditions:
  trend: {detector: ma_trend, kind: ema, period: 5, direction: bullish, timeframe: context}
  cross: {detector: ma_cross, kind: ema, fast: 3, slow: 8, direction: bullish}
signal: {all: [cross, trend]}
direction: long
plan: {stop: {percent: 0.5}, target: {r_multiple: 2}}
"""


@settings(max_examples=30, deadline=None)
@given(hour=st.integers(6, 98), minute=st.integers(0, 59))
def test_a_context_filter_does_not_look_ahead_when_cut_inside_its_bar(hour, minute,
                                                                      demo_candles) -> None:
    """Cut the 1m candles anywhere, also at minute 7 of an hour: the 1h filter and the signals
    known by the cut are those of the full data."""
    compiled = compile_setup(parse_setup(CONTEXT_SETUP))
    candles = demo_candles.iloc[:6000]
    cut = hour * 60 + minute
    full_trend = compiled.evaluate(candles)["trend"].active
    part_trend = compiled.evaluate(candles.iloc[: cut + 1])["trend"].active
    np.testing.assert_array_equal(part_trend, full_trend[: cut + 1])
    full = compiled(candles, symbol="BTC/USDT")
    part = compiled(candles.iloc[: cut + 1], symbol="BTC/USDT")
    known = full[full["known_at"] <= candles.index[cut]].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, known)


def test_a_context_filter_reads_only_closed_complete_hours(demo_candles) -> None:
    """Candles starting at 00:30 and ending at 10:07: the filter at each minute is the close of
    the last complete, closed hour against the EMA of complete hours only; 00:00 (30 minutes
    of data) and 10:00 (7 minutes) are never used."""
    candles = demo_candles.iloc[30:608]
    trend = compile_setup(parse_setup(CONTEXT_SETUP)).evaluate(candles)["trend"].active
    hours = candles.resample("1h").agg({"open": "first", "high": "max", "low": "min",
                                        "close": "last", "volume": "sum"}).iloc[1:-1]
    closes = hours["close"].to_numpy()
    ema = np.full(len(closes), np.nan)
    ema[4] = closes[:5].mean()  # TA-Lib: seeded with the SMA of the first 5 closes
    for k in range(5, len(closes)):
        ema[k] = ema[k - 1] + (closes[k] - ema[k - 1]) * 2 / 6
    above = np.nan_to_num(closes - ema) > 0
    closed_hours = np.searchsorted((hours.index + pd.Timedelta("1h")).asi8,
                                   (candles.index + pd.Timedelta("1min")).asi8,
                                   side="right") - 1
    expected = np.where(closed_hours >= 0, above[np.clip(closed_hours, 0, None)], False)
    np.testing.assert_array_equal(trend, expected)
    assert trend[-7:].tolist() == [above[-1]] * 7  # 10:00-10:06 read the 09:00 hour


def test_partial_rows_of_a_given_context_are_ignored(demo_candles) -> None:
    """A context frame read with ``partial=True`` (the forming hour flagged) gives the same
    filter as the closed hours alone, even where the base candles run past that hour."""
    compiled = compile_setup(parse_setup(CONTEXT_SETUP))
    candles = demo_candles.iloc[:600]
    forming = resample(demo_candles.iloc[:547], "1h", partial=True)  # 09:00 has 7 minutes
    assert forming["partial"].iloc[-1]
    closed = forming[~forming["partial"]]
    with_partial = compiled.evaluate(candles, context=forming)["trend"].active
    np.testing.assert_array_equal(with_partial,
                                  compiled.evaluate(candles, context=closed)["trend"].active)


def test_optimised_values_that_break_the_rule_say_why() -> None:
    setup = parse_setup((Path(__file__).resolve().parents[2] / "examples" / "setups"
                         / "sma-cross.yaml").read_text())
    with pytest.raises(SetupError) as error:
        apply_parameters(setup, {"conditions.cross.fast": 20, "conditions.cross.slow": 20})
    assert "fast (20) must be shorter than slow (20)" in str(error.value)
    assert "pydantic" not in str(error.value)
