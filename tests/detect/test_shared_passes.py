"""One evaluation of a setup runs one swing pass and one structure pass per swing length, shared
by every block built on them (issue 16), and signals are what they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.detect import structure, swings
from engine.setups import compile as compile_module
from engine.setups import compile_setup, parse_setup
from tests.detect._candles import random_candles

EXAMPLE = Path(__file__).parents[2] / "examples" / "setups" / "bos-order-block-retest.yaml"
EXTRA = """  bos:
    detector: structure
    direction: bullish
    length: 5
  swept:
    detector: sweep
    of: swing
    side: low
    length: 5
  pools:
    detector: equal_levels
    side: low
    length: 5
  pivot:
    detector: swing
    side: low
    length: 5
signal:
  any: [bos, bullish_ob_retest, swept, pools, pivot]
"""


def _setup():
    text = EXAMPLE.read_text().replace("signal: bullish_ob_retest\n", EXTRA)
    return parse_setup(text, source=EXAMPLE.name)


def test_one_swing_pass_and_one_structure_pass_per_length(monkeypatch):
    calls = {"pivots": 0, "breaks": 0}
    pivots, breaks = swings._pivots, structure._structure_nb

    def count_pivots(*args):
        calls["pivots"] += 1
        return pivots(*args)

    def count_breaks(*args):
        calls["breaks"] += 1
        return breaks(*args)

    candles = random_candles(5, 3000, freq="15min")
    setup = _setup()
    monkeypatch.setattr(swings, "_pivots", count_pivots)
    monkeypatch.setattr(structure, "_structure_nb", count_breaks)
    evaluated = compile_setup(setup).evaluate(candles)
    assert calls == {"pivots": 1, "breaks": 1}
    assert set(evaluated) >= {"bos", "bullish_ob_retest", "swept", "pools", "pivot"}


def test_signals_equal_unshared_detection(monkeypatch):
    candles = random_candles(6, 4000, freq="15min")
    setup = _setup()
    shared = compile_setup(setup)(candles, symbol="X")
    # the evaluator without its shared passes: every block computes its own
    monkeypatch.setattr(compile_module._Evaluator, "pivots", lambda self, length: None)
    monkeypatch.setattr(compile_module._Evaluator, "breaks", lambda self, length: None)
    alone = compile_setup(setup)(candles, symbol="X")
    assert len(shared) > 0
    assert shared.equals(alone)
    assert np.array_equal(shared["known_at"], alone["known_at"])
