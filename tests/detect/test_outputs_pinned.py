"""Every detector's exact output on a year of 1m data, pinned by a fingerprint taken from the
code before the speed work of issue 16 (shared swing pass, offset tables, lazy frames): a
faster detector must give the same frame, column for column, dtype for dtype, value for value.

The year is a tie-heavy random walk (prices on a 0.5 grid) across both DST changes of New York
and London, with gaps (missing bars, a missing day) so that the gap rules are exercised.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from engine import detect
from tests.detect._candles import candles_from

YEAR = 525_600


@pytest.fixture(scope="module")
def year() -> pd.DataFrame:
    return _year()


def _year() -> pd.DataFrame:
    rng = np.random.default_rng(16)
    close = 20_000 + np.round(np.cumsum(rng.normal(0, 2, YEAR)) * 2) / 2
    open_ = np.concatenate([[20_000.0], close[:-1]])
    high = np.maximum(open_, close) + np.round(rng.exponential(1.5, YEAR) * 2) / 2
    low = np.minimum(open_, close) - np.round(rng.exponential(1.5, YEAR) * 2) / 2
    candles = candles_from(high, low, open_=open_, close=close, start="2023-01-01 00:00")
    drop = rng.random(YEAR) < 0.003  # scattered missing bars
    drop[200_000:201_440] = True  # a missing day
    return candles[~drop]


def _fingerprint(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(repr(frame.index).encode()[:200])
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return f"{len(frame)}:{digest.hexdigest()[:16]}"


def _outputs(candles: pd.DataFrame) -> dict[str, object]:
    swings = detect.detect_swings(candles, length=5)
    sessions = detect.detect_sessions(candles)
    every = detect.detect_sessions(candles, sessions=list(detect.SESSIONS))
    pdl = detect.detect_previous_levels(candles, period="day")
    fx = detect.detect_previous_levels(candles, period="day", boundary="17:00",
                                       tz="America/New_York")
    pwl = detect.detect_previous_levels(candles, period="week", boundary="17:00",
                                        tz="America/New_York")
    equal = detect.detect_equal_levels(candles, length=5)
    return {
        "fvg": detect.detect_fvg(candles),
        "fvg atr": detect.detect_fvg(candles, min_size_atr=0.5, min_size_pct=0.01),
        "swings 5": swings,
        "swings 3": detect.detect_swings(candles, length=3),
        "sessions": sessions,
        "sessions all": every,
        "previous day": pdl,
        "previous day fx": fx,
        "previous week fx": pwl,
        "equal levels": equal,
        "equal levels atr": detect.detect_equal_levels(candles, length=3, tolerance_atr=0.2,
                                                       lookback=8),
        "structure 5": detect.detect_structure(candles, length=5),
        "structure 2": detect.detect_structure(candles, length=2),
        "order blocks": detect.detect_order_blocks(candles, length=5),
        "order blocks 3": detect.detect_order_blocks(candles, length=3),
        "sweeps swings": detect.detect_sweeps(candles, swings),
        "sweeps sessions": detect.detect_sweeps(candles, sessions, reclaim_bars=3),
        "sweeps pdl": detect.detect_sweeps(candles, pdl),
        "sweeps equal": detect.detect_sweeps(candles, equal, reclaim_bars=2),
        "indicators": pd.DataFrame({"ema": detect.ema(candles, 50), "rsi": detect.rsi(candles),
                                    "atr": detect.atr(candles), "sma": detect.sma(candles, 20)}),
        "masks": pd.DataFrame({name: detect.session_mask(candles.index, name)
                               for name in detect.SESSIONS}),
    }


PINNED = {
    'fvg': '61495:90d65598d7c21ec9',
    'fvg atr': '9500:d7f987b76bb8c4ea',
    'swings 5': '70228:b9e139298a2c3295',
    'swings 3': '114476:a4f1ed6217e21da8',
    'sessions': '1092:b9ee8cb3c366c5e7',
    'sessions all': '2912:a430d942a54c97c8',
    'previous day': '730:90884ceaa4af3677',
    'previous day fx': '728:136ff53dc5742ad7',
    'previous week fx': '104:32536873575a386a',
    'equal levels': '62201:a7748f6fdf7e478c',
    'equal levels atr': '26430:ea0c58ccf0a1204c',
    'structure 5': '19462:f25d4f9e2a2e3802',
    'structure 2': '36316:17f2ed6a9e2a8126',
    'order blocks': '19462:c6ec6897d0674454',
    'order blocks 3': '27905:87b5ea565dca92b1',
    'sweeps swings': '49401:2ced507b35ae9db1',
    'sweeps sessions': '1756:579c7db3084c26c0',
    'sweeps pdl': '491:ffb28a282867d135',
    'sweeps equal': '49434:70b5d83990bdb190',
    'indicators': '522573:b6ddde980667d521',
    'masks': '522573:8e05db3d3127fdc1',
}


def test_every_detector_gives_the_pinned_output(year):
    got = {name: _fingerprint(frame) for name, frame in _outputs(year).items()}
    assert got == PINNED


def test_a_shared_swing_pass_gives_the_same_output(year):
    pivots = {length: detect.swing_points(year, length) for length in (2, 3, 5)}
    shared = {
        "swings 5": detect.detect_swings(year, length=5, pivots=pivots[5]),
        "swings 3": detect.detect_swings(year, length=3, pivots=pivots[3]),
        "equal levels": detect.detect_equal_levels(year, length=5, pivots=pivots[5]),
        "equal levels atr": detect.detect_equal_levels(year, length=3, tolerance_atr=0.2,
                                                       lookback=8, pivots=pivots[3]),
        "structure 5": detect.detect_structure(year, length=5, pivots=pivots[5]),
        "structure 2": detect.detect_structure(year, length=2, pivots=pivots[2]),
        "order blocks": detect.detect_order_blocks(year, length=5, pivots=pivots[5]),
        "order blocks 3": detect.detect_order_blocks(year, length=3, pivots=pivots[3]),
    }
    assert {name: _fingerprint(frame) for name, frame in shared.items()} == {
        name: PINNED[name] for name in shared}


def test_shared_structure_breaks_give_the_same_output(year):
    from engine.detect.orderblocks import order_block_detections
    from engine.detect.structure import structure_breaks, structure_detections

    breaks = structure_breaks(year, 5, detect.swing_points(year, 5))
    shared = {"structure 5": structure_detections(year, length=5, breaks=breaks).frame(),
              "order blocks": order_block_detections(year, length=5, breaks=breaks).frame()}
    assert {name: _fingerprint(frame) for name, frame in shared.items()} == {
        name: PINNED[name] for name in shared}
    with pytest.raises(ValueError, match="structure breaks reach bar"):
        order_block_detections(year.iloc[:1000], length=5, breaks=breaks)


def test_pivots_of_other_candles_are_refused(year):
    pivots = detect.swing_points(year.iloc[:1000], 5)
    with pytest.raises(ValueError, match="pivots are for 1000 bars"):
        detect.detect_structure(year, length=5, pivots=pivots)


@pytest.mark.parametrize("length", [1, 2, 5, 9])
def test_window_pivots_equal_the_direct_pass_with_and_without_nan(year, length):
    from engine.detect.swings import _pivots, _pivots_nb

    high = year["high"].to_numpy()[:20_000].copy()
    low = year["low"].to_numpy()[:20_000].copy()
    for _ in range(2):  # as given, then with NaNs (where the order of comparisons matters)
        direct, window = _pivots_nb(high, low, length), _pivots(high, low, length)
        np.testing.assert_array_equal(window[0], direct[0])
        np.testing.assert_array_equal(window[1], direct[1])
        high[::997], low[5::1013] = np.nan, np.nan
    assert len(_pivots(high[:3], low[:3], 2)[0]) == 3
