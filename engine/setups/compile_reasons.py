"""A signal's explanation (its ``reasons`` cell, `engine.signals`): per event condition of the
setup, the last detection known at the signal's bar, as a JSON list of objects

    [{"condition":"cross","kind":"ma_cross","direction":1,"at":"2023-01-01T01:57:00Z",
      "known_at":"2023-01-01T01:57:00Z","top":19591.46314121834,"bottom":19591.46314121834}]

compact (no spaces), times in UTC to the second, numbers in their shortest round-trip form,
``null`` for a missing level; a condition with no event yet at the bar is left out, and a
signal that no condition explains reads ``[]``.

Built column-wise with Arrow string kernels, no Python object per signal until the final
column: each condition's distinct detections are found in one pass over the (ascending) rows,
each text column is formatted once (a column equal to the one before it, ``known_at`` = ``at``
for an event known on its own bar or ``bottom`` = ``top`` for a level, reuses its text), and
the fixed text around the values comes from a small table per (kind, direction).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.detect._frame import Detections


def explanations(evaluated: Mapping, bars: np.ndarray) -> np.ndarray:
    """The ``reasons`` text of the signals at `bars` (ascending) from the setup's evaluated
    conditions (`engine.setups.compile.Evaluated` by name), as an object array."""
    per_condition = []
    for name, e in evaluated.items():
        if e.detections is None or not len(e.detections):
            continue
        rows = e.rows_at(bars)
        first = np.empty(len(rows), dtype=bool)
        first[:1] = True
        np.not_equal(rows[1:], rows[:-1], out=first[1:])
        used = rows[first]
        if not len(used):
            continue
        cells = _detection_json(name, e.detections, np.clip(used, 0, None))
        if used[0] < 0:  # bars before the condition's first event: no detection
            cells = pc.if_else(pa.array(used >= 0), cells, pa.nulls(len(used), pa.string()))
        if len(used) < len(rows):
            cells = cells.take(pa.array(np.cumsum(first) - 1))
        per_condition.append(cells)
    if not per_condition:
        return np.full(len(bars), "[]", dtype=object)
    if len(per_condition) == 1 and per_condition[0].null_count == 0:
        wrapped = pc.binary_join_element_wise("[", per_condition[0], "]", "")
    else:
        joined = pc.binary_join_element_wise(*per_condition, ",", null_handling="skip")
        wrapped = pc.binary_join_element_wise("[", joined, "]", "")
    return wrapped.to_numpy(zero_copy_only=False)


def _detection_json(condition: str, detections: Detections, rows: np.ndarray) -> pa.Array:
    """``{"condition", "kind", "direction", "at", "known_at", "top", "bottom"}`` of each of
    `rows` (positions in `detections`)."""
    stamps = detections.index.asi8 if detections.index.unit == "ns" else (
        detections.index.as_unit("ns").asi8)
    at_i, known_i = detections["at_i"][rows], detections["known_i"][rows]
    if len(stamps) == 0 or (at_i < 0).any() or (known_i < 0).any():
        return _detection_json_of_frame(condition, detections.frame(), rows)
    at, known_at = stamps[at_i] // 1_000_000_000, stamps[known_i] // 1_000_000_000
    at_text = _stamp(at)
    known_text = at_text if np.array_equal(at, known_at) else _stamp(known_at)
    top, bottom = detections["top"][rows], detections["bottom"][rows]
    top_text = _number(top)
    bottom_text = top_text if np.array_equal(top, bottom, equal_nan=True) else _number(bottom)
    return pc.binary_join_element_wise(
        _openings(condition, detections, rows), at_text, 'Z","known_at":"', known_text,
        'Z","top":', top_text, ',"bottom":', bottom_text, "}", "")


def _openings(condition: str, detections: Detections, rows: np.ndarray) -> pa.Array:
    """``{"condition":…,"kind":"…","direction":…,"at":"`` of each row, from a table of the
    few (kind, direction) pairs present."""
    direction = detections["direction"][rows].astype(np.int64)
    kind = detections.kind
    if isinstance(kind, str):
        kind_codes, kind_names = np.zeros(len(rows), np.int64), [kind]
    elif isinstance(kind, Mapping):
        kind_codes = pd.Index(list(kind)).get_indexer(direction)
        kind_names = [str(name) for name in kind.values()]
        if (kind_codes < 0).any():
            raise ValueError(f"no kind named for a direction among {sorted(kind)}")
    else:
        kind_codes, uniques = pd.factorize(np.asarray(kind, dtype=object)[rows])
        kind_names = [str(name) for name in uniques]
    direction_codes, directions = pd.factorize(direction)
    pair = kind_codes * len(directions) + direction_codes
    head = f'{{"condition":{json.dumps(condition)},"kind":"'
    table = [f'{head}{name}","direction":{int(d)},"at":"' for name in kind_names
             for d in directions]
    return pa.array(table, pa.string()).take(pa.array(pair))


def _stamp(seconds: np.ndarray) -> pa.Array:
    """``2023-03-01T09:45:00`` of each time in whole seconds since the epoch, UTC."""
    times = pc.cast(pa.array(seconds, type=pa.timestamp("s")), pa.string())
    # "2023-03-01 09:45:00" -> "2023-03-01T09:45:00"; Arrow's strftime is 30x slower
    return pc.replace_substring(times, " ", "T", max_replacements=1)


def _number(values: np.ndarray) -> pa.Array:
    """Shortest round-trip text of each value; ``null`` for NaN or infinity."""
    finite = np.isfinite(values)
    if finite.all():
        return pc.cast(pa.array(values), pa.string())
    text = pc.cast(pa.array(np.where(finite, values, 0.0)), pa.string())
    return pc.if_else(pa.array(finite), text, "null")


def _detection_json_of_frame(condition: str, frame: pd.DataFrame, rows: np.ndarray) -> pa.Array:
    """`_detection_json` read from the detection frame: for rows whose times are not bars of
    the candles (NaT)."""
    def seconds(column: str) -> np.ndarray:
        return pd.DatetimeIndex(frame[column]).as_unit("s").asi8[rows]

    kinds = pc.cast(pa.Array.from_pandas(frame["kind"]).take(rows), pa.string())
    direction = pc.cast(pa.array(frame["direction"].to_numpy(np.int64)[rows]), pa.string())
    return pc.binary_join_element_wise(
        f'{{"condition":{json.dumps(condition)},"kind":"', kinds, '","direction":', direction,
        ',"at":"', _stamp(seconds("at")), 'Z","known_at":"', _stamp(seconds("known_at")),
        'Z","top":', _number(frame["top"].to_numpy(float)[rows]), ',"bottom":',
        _number(frame["bottom"].to_numpy(float)[rows]), "}", "")
