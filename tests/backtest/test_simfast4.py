"""Round 4 of the simulation's fast paths: each gives exactly what the plain one gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest.simulate import SESSIONS, _session_codes
from engine.candles import validate_candles
from engine.detect.sessions import session_mask
from engine.errors import DataError
from engine.signals import SIGNAL_COLUMNS, column_arrays, conform_signals


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


def _signals(times) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({
        "known_at": times, "symbol": "X/Y", "direction": np.ones(n, np.int8),
        "entry_type": "market", "entry": 100.0, "stop": 99.0, "target": 102.0,
        "r_planned": 2.0, "expiry_bars": np.zeros(n, np.int32),
        "time_exit_bars": np.zeros(n, np.int32), "breakeven_r": np.nan, "partial_r": np.nan,
        "partial_fraction": 0.0, "setup_id": "s", "setup_version": np.ones(n, np.int32),
        "reasons": [f"why {i}" for i in range(n)]}).astype({"symbol": object,
                                                            "entry_type": object,
                                                            "setup_id": object,
                                                            "reasons": object})


def test_conform_signals_keeps_a_frame_in_contract_form_and_fixes_any_other() -> None:
    times = pd.date_range("2024-01-01", periods=6, freq="1min", tz="UTC").as_unit("ns")
    ready = _signals(times)
    assert conform_signals(ready) is ready
    assert column_arrays(ready)["known_at"].asi8.tolist() == times.asi8.tolist()
    for name, values in column_arrays(ready).items():
        values = np.asarray(values)
        assert np.array_equal(values, ready[name].to_numpy(), equal_nan=values.dtype.kind == "f")
    unsorted = _signals(times[[1, 0, 2, 3, 4, 5]])
    with_nat = _signals(pd.DatetimeIndex([pd.NaT]).tz_localize("UTC").append(times[1:]))
    wider = ready.astype({"direction": np.int64})
    for frame in (unsorted, with_nat, wider, ready.iloc[1:]):  # (the last: index from 1)
        fixed = conform_signals(frame)
        assert fixed is not frame
        assert fixed.dtypes.astype(str).to_dict() == SIGNAL_COLUMNS
        assert isinstance(fixed.index, pd.RangeIndex) and fixed.index.start == 0
    assert conform_signals(unsorted)["reasons"].tolist() == [f"why {i}" for i in (1, 0, 2, 3,
                                                                                 4, 5)]
    assert conform_signals(_signals(times[:0])) is not None


@pytest.mark.parametrize("change", ["int64", "float32", "object", "Float64", "duplicate"])
def test_validate_candles_refuses_any_price_column_that_is_not_one_float64_column(change) -> None:
    index = pd.date_range("2024-01-01", periods=4, freq="1min", tz="UTC")
    candles = pd.DataFrame({name: np.arange(4.0) + 1 for name in
                            ("open", "high", "low", "close", "volume")}, index=index)
    assert validate_candles(candles) is candles
    if change == "duplicate":
        candles = pd.concat([candles, candles[["low"]]], axis=1)
    else:
        candles["low"] = candles["low"].astype(change)
    with pytest.raises(DataError, match="column 'low' must be float64"):
        validate_candles(candles)
