"""Builds detection frames that follow the contract in `engine.detect`.

`Detections` holds a detection frame's columns as numpy arrays, already in the frame's row
order; the DataFrame itself is built only when asked (`Detections.frame`). The compiler and the
live monitor read the arrays: building a pandas frame costs about ten times the numba pass on
a few thousand bars, and most live bars read no detection at all.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.candles import validate_candles

BASE_COLUMNS = ("at", "known_at", "at_i", "known_i", "kind", "direction", "top", "bottom")

_NAT = np.iinfo(np.int64).min
_STR = pd.StringDtype(na_value=np.nan)  # pandas' default string dtype
_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")


class Detections:
    """A detection frame's columns as arrays, sorted by (known_i, at_i) as the frame is.

    ``kind`` stays as given to `detection_frame` (one string, a mapping by direction, or one per
    row); `kinds` gives it per row. `where` keeps rows; `frame` builds the DataFrame
    (`detection_frame`'s, row for row).
    """

    def __init__(self, index: pd.DatetimeIndex, *, at_i, known_i, kind, direction, top,
                 bottom, **extra) -> None:
        at_i = np.asarray(at_i, dtype=np.int64)
        known_i = np.asarray(known_i, dtype=np.int64)
        count = len(at_i)
        order = None
        if count > 1 and not _sorted(known_i, at_i):
            order = np.lexsort((at_i, known_i))

        def take(values):
            if not isinstance(values, pd.api.extensions.ExtensionArray):
                values = np.asarray(values)
            return values if order is None else values[order]

        self.index = index
        self.kind = kind if isinstance(kind, str | Mapping) else take(
            np.asarray(kind, dtype=object))
        self.columns: dict[str, object] = {
            "at_i": take(at_i), "known_i": take(known_i),
            "direction": take(np.broadcast_to(np.asarray(direction, dtype=np.int8), (count,))),
            "top": take(np.asarray(top, dtype=np.float64)),
            "bottom": take(np.asarray(bottom, dtype=np.float64)),
        }
        for name, values in extra.items():
            self.columns[name] = take(np.asarray(values, dtype=np.int64)
                                      if name.endswith("_i") else values)

    def __len__(self) -> int:
        return len(self.columns["at_i"])

    def __getitem__(self, name: str):
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def kinds(self) -> np.ndarray:
        """The kind of each row (object array)."""
        if isinstance(self.kind, str):
            return np.full(len(self), self.kind, dtype=object)
        if isinstance(self.kind, Mapping):
            names = np.array(list(self.kind.values()), dtype=object)
            codes = pd.Index(list(self.kind)).get_indexer(self.columns["direction"])
            return names[codes]
        return self.kind

    def kind_strings(self, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """The kind of the given rows as pandas strings (the frame's ``kind`` column at those
        rows), built from codes when the kind is one string or one per direction."""
        rows = np.asarray(rows, dtype=np.int64)
        if isinstance(self.kind, str | Mapping):
            return _kinds(self.kind, len(rows), lambda values: values,
                          self.columns["direction"][rows])
        return pd.array(self.kind[rows], dtype=_STR)

    def where(self, keep: np.ndarray) -> Detections:
        """The rows where `keep` (a boolean mask or positions) holds, in order."""
        out = object.__new__(Detections)
        out.index = self.index
        out.kind = self.kind if isinstance(self.kind, str | Mapping) else self.kind[keep]
        out.columns = {name: values[keep] for name, values in self.columns.items()}
        return out

    def frame(self) -> pd.DataFrame:
        """The detection frame, rows in this order (`detection_frame`'s columns and dtypes)."""
        stamps = _nanoseconds(self.index)
        columns = self.columns
        data: dict[str, object] = {
            "at": _times(stamps, columns["at_i"]),
            "known_at": _times(stamps, columns["known_i"]),
            "at_i": columns["at_i"], "known_i": columns["known_i"],
            "kind": _kinds(self.kind, len(self), lambda values: values, columns["direction"]),
            "direction": columns["direction"], "top": columns["top"], "bottom": columns["bottom"],
        }
        for name, values in columns.items():
            if name in data:
                continue
            if name.endswith("_i"):
                data[name[:-2] + "_at"] = _times(stamps, values)
            data[name] = values
        return pd.DataFrame(data)


def detection_frame(index: pd.DatetimeIndex, *, at_i, known_i, kind, direction, top, bottom,
                    **extra) -> pd.DataFrame:
    """Assemble a detection frame sorted by (known_i, at_i). `extra` columns whose name ends in
    `_i` are bar positions (-1 = not yet) and get a matching `_at` time column."""
    return Detections(index, at_i=at_i, known_i=known_i, kind=kind, direction=direction,
                      top=top, bottom=bottom, **extra).frame()


def _kinds(kind, count: int, take, direction) -> pd.api.extensions.ExtensionArray:
    """The kind column, as pandas strings: one kind for every row (a string), one per
    direction (a mapping such as ``{1: "swing_high", -1: "swing_low"}``) or one per row."""
    if isinstance(kind, str):
        return pd.array(pa.repeat(pa.scalar(kind), count), dtype=_STR)
    if isinstance(kind, Mapping):
        codes = pd.Index(list(kind)).get_indexer(np.broadcast_to(direction, (count,)))
        if (codes < 0).any():
            raise ValueError(f"no kind named for a direction among {sorted(kind)}")
        names = pa.DictionaryArray.from_arrays(pa.array(take(codes), pa.int32()),
                                               pa.array(list(kind.values())))
        return pd.array(names.cast(pa.string()), dtype=_STR)
    return pd.array(take(np.asarray(kind, dtype=object)), dtype=_STR)


def _nanoseconds(index: pd.DatetimeIndex) -> np.ndarray:
    """The index's times as int64 nanoseconds (``as_unit`` costs milliseconds on a fresh
    year of 1m even when the unit is already ns)."""
    return index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8


def _sorted(known_i: np.ndarray, at_i: np.ndarray) -> bool:
    step = np.diff(known_i)
    return bool((step >= 0).all() and (np.diff(at_i)[step == 0] >= 0).all())


def _times(stamps: np.ndarray, positions: np.ndarray) -> pd.arrays.DatetimeArray:
    """UTC times of bar `positions` (NaT where the position is -1)."""
    if len(stamps) == 0:
        values = np.full(len(positions), _NAT, dtype=np.int64)
    else:
        values = stamps[np.clip(positions, 0, len(stamps) - 1)]
        values[positions < 0] = _NAT
    # int64 ns since the epoch, UTC; wrapped as they are (the public constructors re-check
    # the unit and cost more than the gather above)
    return pd.arrays.DatetimeArray._simple_new(values.view("M8[ns]"), dtype=_UTC_NS)


def prepare(candles: pd.DataFrame) -> pd.DataFrame:
    """Validate the candle contract (cheap checks only) before running a kernel."""
    return validate_candles(candles)
