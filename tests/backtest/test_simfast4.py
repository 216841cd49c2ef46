"""Round 4 of the simulation's fast paths: each gives exactly what the plain one gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest.simulate import SESSIONS, _session_codes
from engine.detect.sessions import session_mask


def _codes_by_mask(index: pd.DatetimeIndex) -> list[int]:
    """The trades' session codes as `session_mask` gives them (the definition)."""
    out = np.zeros(len(index), dtype=np.int8)
    for code, name in enumerate(SESSIONS[1:], start=1):
        out[session_mask(index, name)] = code
    return out.tolist()


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize(("start", "end"), [
    ("2024-01-01", "2024-12-31 23:59"),  # one UTC year, both DST changes of every zone
    ("2023-06-01", "2025-03-31"),  # two tables (years) joined
    ("2021-01-01", "2024-06-30"),  # beyond two years: the general conversion
    ("2024-03-31 00:30", "2024-03-31 01:30"),  # an hour: a table of its own, London's change
])
def test_session_codes_equal_session_masks_for_sparse_times(unit, start, end) -> None:
    rng = np.random.default_rng(5)
    index = pd.date_range(start, end, freq="1min", tz="UTC").as_unit(unit)
    bars = np.sort(rng.choice(len(index), min(len(index), 2_000), replace=False))
    bars[-1] = len(index) - 1  # the very last time, at a table's end
    expected = _codes_by_mask(index[bars])
    assert _session_codes(index, bars).tolist() == expected
    assert _session_codes(index[bars]).tolist() == expected


def test_session_codes_of_no_times() -> None:
    index = pd.date_range("2024-01-01", periods=3, freq="1min", tz="UTC")
    assert _session_codes(index, np.empty(0, np.int64)).tolist() == []
