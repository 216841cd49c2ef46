"""Builds detection frames that follow the contract in `engine.detect`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.candles import validate_candles

BASE_COLUMNS = ("at", "known_at", "at_i", "known_i", "kind", "direction", "top", "bottom")


def detection_frame(index: pd.DatetimeIndex, *, at_i, known_i, kind, direction, top, bottom,
                    **extra) -> pd.DataFrame:
    """Assemble a detection frame sorted by (known_i, at_i). `extra` columns whose name ends in
    `_i` are bar positions (-1 = not yet) and get a matching `_at` time column."""
    at_i = np.asarray(at_i, dtype=np.int64)
    known_i = np.asarray(known_i, dtype=np.int64)
    count = len(at_i)
    data: dict[str, object] = {
        "at": _times(index, at_i),
        "known_at": _times(index, known_i),
        "at_i": at_i,
        "known_i": known_i,
        "kind": np.broadcast_to(np.asarray(kind, dtype=object), (count,)).copy(),
        "direction": np.broadcast_to(np.asarray(direction, dtype=np.int8), (count,)).copy(),
        "top": np.asarray(top, dtype=np.float64),
        "bottom": np.asarray(bottom, dtype=np.float64),
    }
    for name, values in extra.items():
        if name.endswith("_i"):
            positions = np.asarray(values, dtype=np.int64)
            data[name[:-2] + "_at"] = _times(index, positions)
            data[name] = positions
        else:
            data[name] = values
    frame = pd.DataFrame(data)
    order = np.lexsort((at_i, known_i))
    return frame.iloc[order].reset_index(drop=True)


def _times(index: pd.DatetimeIndex, positions: np.ndarray) -> pd.Series:
    if len(index) == 0:
        return pd.Series(pd.DatetimeIndex([], tz="UTC").repeat(0), dtype="datetime64[ns, UTC]")
    safe = np.clip(positions, 0, len(index) - 1)
    values = pd.Series(index[safe].astype("datetime64[ns, UTC]"))
    return values.where(positions >= 0)


def prepare(candles: pd.DataFrame) -> pd.DataFrame:
    """Validate the candle contract (cheap checks only) before running a kernel."""
    return validate_candles(candles)
