"""Deterministic, look-ahead-free detectors, one module per concept.

The detection contract (docs/ARCHITECTURE.md): every event detector is a function

    detect_<concept>(candles, *, <keyword-only parameters>) -> pd.DataFrame

taking candles that satisfy `engine.candles.validate_candles` and returning one row per
detection, sorted by (`known_i`, `at_i`), with at least these columns:

| column    | dtype           | meaning                                                          |
| --------- | --------------- | ---------------------------------------------------------------- |
| at        | datetime64[UTC] | the bar the pattern is anchored to (e.g. a swing's pivot bar)    |
| known_at  | datetime64[UTC] | the first bar at whose close the pattern could have been known  |
| at_i      | int64           | position of `at` in the input candles                           |
| known_i   | int64           | position of `known_at` in the input candles (known_i >= at_i)   |
| kind      | str             | what was found, e.g. "fvg", "swing_high", "bos", "sweep"         |
| direction | int8            | +1 bullish / high side, -1 bearish / low side (per module doc)   |
| top       | float64         | upper price of the zone; for a single level top == bottom       |
| bottom    | float64         | lower price of the zone                                          |

plus columns of its own, documented in its module. Information that arrives later than
`known_at` (an FVG's fill, an order block's mitigation) lives in its own columns with its own
time (`filled_at`, `filled_i`, ...), NaT/-1 while it has not happened.

No look-ahead is a tested property: for any bar t, the rows with `known_i <= t` computed on
`candles.iloc[:t+1]` equal the same rows computed on the full data, once later-arriving columns
are masked to what was known by t. Signals, backtests and live alerts use only `known_at`.

Dense per-bar series (indicators, session membership) return arrays/Series aligned with the
candles; their value at bar t uses bars <= t only.

The detectors built on swings (swings, structure, order blocks, equal levels) take
``pivots=swing_points(candles, length)``: one swing pass computed once and shared by the
detectors of one evaluation (the setup compiler does this per length).
"""

from engine.detect._frame import detection_frame
from engine.detect.fvg import detect_fvg
from engine.detect.indicators import atr, ema, rsi, sma
from engine.detect.levels import detect_equal_levels, detect_previous_levels
from engine.detect.orderblocks import detect_order_blocks
from engine.detect.sessions import SESSIONS, Session, detect_sessions, session_mask
from engine.detect.structure import detect_structure
from engine.detect.sweeps import detect_sweeps
from engine.detect.swings import Pivots, detect_swings, swing_points

__all__ = [
    "Pivots", "SESSIONS", "Session", "atr", "detect_equal_levels", "detect_fvg",
    "detect_order_blocks", "detect_previous_levels", "detect_sessions", "detect_structure",
    "detect_sweeps", "detect_swings", "detection_frame", "ema", "rsi", "session_mask", "sma",
    "swing_points",
]
