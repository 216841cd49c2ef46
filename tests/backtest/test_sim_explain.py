"""Each signal's explanation (``reasons``) names, per event condition, the last detection known
at its bar, exactly as a plain Python reading of the detection frames writes it: the same
texts whichever shortcut builds them (one text per distinct detection, a column equal to the
one before it reused, the brackets added in one step)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.setups import compile_setup, parse_setup

SETUPS = sorted((Path(__file__).resolve().parents[2] / "examples" / "setups").glob("*.yaml"))


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _stamp(value) -> str:
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _expected(compiled, candles: pd.DataFrame, known_at: pd.Series) -> list[list[dict]]:
    """The explanations by hand: per signal bar, per condition with detections, the frame row
    of its last event at or before the bar, as a dict."""
    evaluated = compiled.evaluate(candles)
    bars = candles.index.get_indexer(known_at)
    out: list[list[dict]] = [[] for _ in bars]
    for name, e in evaluated.items():
        if e.detections is None or not len(e.detections):
            continue
        frame = e.frame
        for j, bar in enumerate(bars):
            row = int(np.searchsorted(e.positions, bar, side="right")) - 1
            if row < 0:
                continue
            out[j].append({"condition": name, "kind": str(frame["kind"].iloc[row]),
                           "direction": int(frame["direction"].iloc[row]),
                           "at": _stamp(frame["at"].iloc[row]),
                           "known_at": _stamp(frame["known_at"].iloc[row]),
                           "top": _number(frame["top"].iloc[row]),
                           "bottom": _number(frame["bottom"].iloc[row])})
    return out


@pytest.mark.parametrize("path", SETUPS, ids=lambda p: p.stem)
def test_each_explanation_is_the_last_detection_of_each_condition(path, demo_candles) -> None:
    candles = demo_candles.copy()
    compiled = compile_setup(parse_setup(path.read_text()))
    signals = compiled(candles, symbol="BTC/USDT")
    assert len(signals) > 0, path.stem
    expected = _expected(compiled, candles, signals["known_at"])
    got = [json.loads(text) for text in signals["reasons"]]
    assert got == expected
    # the texts keep the compact form the alerts and the stored runs always had
    assert all(text.startswith("[") and ", " not in text and ": " not in text
               for text in signals["reasons"])
    assert signals["reasons"].dtype == object


def test_explanations_before_a_conditions_first_event_skip_it(demo_candles) -> None:
    """A signal of a sequence fires on its last step; a condition with no event yet at the
    bar is left out (never a null in the list), and a signal with none is ``[]``."""
    setup = parse_setup((SETUPS[0].parent / "sma-cross.yaml").read_text())
    candles = demo_candles.iloc[:3_000].copy()
    compiled = compile_setup(setup)
    signals = compiled(candles, symbol="BTC/USDT")
    lean = compiled(candles, symbol="BTC/USDT", explain=False)
    pd.testing.assert_frame_equal(signals.drop(columns="reasons"), lean.drop(columns="reasons"))
    assert (lean["reasons"] == "[]").all()
    assert "null" not in "".join(signals["reasons"]).replace('"top":null', "").replace(
        '"bottom":null', "")


def test_a_setup_whose_signals_are_all_dropped_explains_none(demo_candles) -> None:
    """On these bars every active bar of this setup is dropped by its plan: no signal, and no
    explanation to build (an empty frame, not an error)."""
    setup = parse_setup((SETUPS[0].parent / "ny-fvg-continuation.yaml").read_text())
    compiled = compile_setup(setup)
    signals = compiled(demo_candles.iloc[:12_000].copy(), symbol="BTC/USDT")
    assert signals.empty and "reasons" in signals
    assert compiled.dropped + compiled.counters["filtered_stop_too_tight"] > 0
