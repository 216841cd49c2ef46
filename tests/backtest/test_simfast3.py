"""Round 3 of the simulation's fast paths: each gives exactly what the plain one gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest.simulate import _paired_sessions, _session_codes


@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_paired_sessions_equal_each_column_s_codes(unit) -> None:
    rng = np.random.default_rng(11)
    # across both DST changes of London and New York
    index = pd.date_range("2024-03-01", "2024-11-30", freq="7min", tz="UTC").as_unit(unit)
    signal = np.sort(rng.choice(len(index) - 50, 300, replace=False))
    entry = signal + rng.integers(1, 40, len(signal))
    for first, second in ((signal, entry), (entry[::-1], signal), (signal[:0], entry[:0])):
        a, b = _paired_sessions(index, first, second)
        assert a.tolist() == _session_codes(index[first]).tolist()
        assert b.tolist() == _session_codes(index[second]).tolist()
        assert a.dtype == b.dtype == np.int8
