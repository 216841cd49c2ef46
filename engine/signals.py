"""The signal contract: what a compiled setup returns and what the backtester and the live
monitor consume. One row per trade idea.

Times are bar labels (bar *open* times, UTC) like the candle index. `known_at` is the bar at
whose close the signal became known; a market entry fills at the open of the next bar.

| column           | dtype           | meaning                                                  |
| ---------------- | --------------- | -------------------------------------------------------- |
| known_at         | datetime64[UTC] | bar whose close made the signal known                    |
| symbol           | str             | market symbol, e.g. "BTC/USDT"                           |
| direction        | int8            | +1 long, -1 short                                        |
| entry_type       | str             | "market" (next bar open) or "limit" (at `entry`)         |
| entry            | float64         | planned entry: limit price, or the signal bar's close    |
| stop             | float64         | stop-loss price                                          |
| target           | float64         | take-profit price (NaN: none; exit by time or stop)      |
| r_planned        | float64         | reward:risk planned: (target - entry) / (entry - stop)   |
| expiry_bars      | int32           | limit orders: bars the order stays working (0: market)   |
| time_exit_bars   | int32           | close the trade after this many bars (0 = never)         |
| breakeven_r      | float64         | stop moves to entry once price reaches this R (NaN: off) |
| partial_r        | float64         | take a partial exit at this R (NaN = off)                |
| partial_fraction | float64         | fraction of the position closed at `partial_r` (0..1)    |
| setup_id         | str             | setup id                                                 |
| setup_version    | int32           | setup version number                                     |
| reasons          | str             | JSON list of the detections behind it (charts, alerts)   |

``reasons`` is built only where it is read: ``CompiledSetup(..., explain=True)`` (the default:
live monitor, Setups page, learning, KB) explains every signal; ``explain=False`` leaves
``"[]"``; ``CompiledSetup.explained_later`` leaves ``""`` and returns an ``Explainer`` for the
rows read later. A backtest run explains only its traded signals: its trades' ``reasons`` are
their signals' full explanations, and its signals.parquet holds them in the traded rows and
``""`` in the untraded ones (no reader shows an untraded signal's reasons; one that needs them
explains those rows again with the setup's ``Explainer`` on the run's candles).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SIGNAL_COLUMNS: dict[str, str] = {
    "known_at": "datetime64[ns, UTC]",
    "symbol": "object",
    "direction": "int8",
    "entry_type": "object",
    "entry": "float64",
    "stop": "float64",
    "target": "float64",
    "r_planned": "float64",
    "expiry_bars": "int32",
    "time_exit_bars": "int32",
    "breakeven_r": "float64",
    "partial_r": "float64",
    "partial_fraction": "float64",
    "setup_id": "object",
    "setup_version": "int32",
    "reasons": "object",
}

LONG, SHORT = 1, -1
MARKET, LIMIT = "market", "limit"


def empty_signals() -> pd.DataFrame:
    """A zero-row frame with the signal columns and dtypes."""
    return pd.DataFrame(
        {name: pd.Series(np.array([], dtype="int64") if "datetime" in dtype else [], dtype=dtype)
         for name, dtype in SIGNAL_COLUMNS.items()}
    )


def conform_signals(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with exactly the signal columns, in order, with their dtypes, sorted by
    `known_at` (stable), index reset."""
    missing = [c for c in SIGNAL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"signals frame lacks column(s): {', '.join(missing)}")
    if _conforms(frame):
        return frame
    out = frame.loc[:, list(SIGNAL_COLUMNS)].astype(SIGNAL_COLUMNS)
    return out.sort_values("known_at", kind="stable").reset_index(drop=True)


def _conforms(frame: pd.DataFrame) -> bool:
    """Already in contract form (columns, dtypes, order, default index, sorted by a `known_at`
    without NaT)?"""
    if list(frame.columns) != list(SIGNAL_COLUMNS) or not (
            isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
            and frame.index.step == 1):
        return False
    arrays = column_arrays(frame)
    if not all(type(arrays[name].dtype) is type(dtype) and arrays[name].dtype == dtype
               for name, dtype in _DTYPES.items()):
        return False
    times = arrays["known_at"].asi8  # sorted: NaT (the least int64) can only come first
    return not len(times) or (times[0] != _NAT and bool((times[1:] >= times[:-1]).all()))


_DTYPES = {name: pd.api.types.pandas_dtype(dtype) for name, dtype in SIGNAL_COLUMNS.items()}
_NAT = np.iinfo(np.int64).min


def column_arrays(frame: pd.DataFrame) -> dict[str, object]:
    """Each column's array (a numpy or pandas extension array, as the frame holds it, no copy)
    by name, read by position in one pass: a frame's first lookup by name builds a hash table
    of its column names, and every Series built per column costs more than the array it
    wraps (a tenth of a millisecond per column of a fresh frame, ten times what this costs)."""
    get = getattr(frame, "_get_column_array", None)  # pandas' own, without the Series
    if get is None:
        return {name: frame.iloc[:, j].array for j, name in enumerate(frame.columns)}
    return {name: get(j) for j, name in enumerate(frame.columns)}
