"""Round 3 of the simulation's fast paths: each gives exactly what the plain one gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest import _kernel as k
from engine.backtest.simulate import _paired_sessions, _session_codes


def _candle_times(rng, bars: int) -> np.ndarray:
    """Minute bars in microseconds with a few gaps (missing bars), as the store holds them."""
    steps = np.where(rng.random(bars) < 0.03, rng.integers(2, 90, bars), 1) * 60_000_000
    return 1_700_000_000_000_000 + np.cumsum(steps)


@pytest.mark.parametrize("seed", range(4))
def test_positions_on_candle_times_with_gaps_equal_searchsorted(seed) -> None:
    rng = np.random.default_rng(seed)
    times = _candle_times(rng, 5_000)
    on_bars = times[np.sort(rng.integers(0, len(times), 400))]
    between = on_bars + rng.integers(-60_000_000, 60_000_000, len(on_bars))
    outside = np.array([times[0] - 1, times[-1], times[-1] + 1, times[-1] + 10**9])
    for keys in (on_bars, np.sort(between), np.sort(np.r_[between, outside]), between):
        assert (k.positions_nb(times, keys) == np.searchsorted(times, keys)).all()


def test_the_guess_is_exact_or_declines() -> None:
    rng = np.random.default_rng(5)
    times = _candle_times(rng, 2_000)
    taken = 0
    for lo in range(0, len(times), 7):
        for key in times[lo] + rng.integers(1, 20 * 60_000_000, 20):
            guess = k._guess_nb(times, lo, key)
            if guess >= 0:
                taken += 1
                assert guess == np.searchsorted(times, key)
    assert taken > 3_000  # of 5,720: evenly spaced bars are found by the guess, not by galloping
    assert k._guess_nb(times, 3, times[3]) == 3  # at the previous key's bar
    assert k._guess_nb(times, len(times), times[-1] + 1) == -1
    flat = np.array([1, 1, 1, 5, 9])  # no spacing to continue: declined
    assert k._guess_nb(flat, 0, 4) == -1


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
