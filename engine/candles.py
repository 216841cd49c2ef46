"""The candle contract (docs/ARCHITECTURE.md) and the names everything else uses.

Candles are a pandas DataFrame indexed by a UTC `DatetimeIndex` of bar *open* times, with the
float64 columns `open high low close volume`, sorted ascending, unique. Every importer and
source converts to this; every detector, compiler and backtester accepts only this.
"""

from __future__ import annotations

import functools
import re
import weakref

import numpy as np
import pandas as pd
from numba import njit

from engine.errors import DataError

OPEN, HIGH, LOW, CLOSE, VOLUME = "open", "high", "low", "close", "volume"
COLUMNS: tuple[str, ...] = (OPEN, HIGH, LOW, CLOSE, VOLUME)
#: Boolean column added by ``resample(..., partial=True)`` / ``CandleStore.read(...,
#: partial=True)``: True for a higher-timeframe bar built from only part of its period.
PARTIAL = "partial"

#: Timeframes ITA understands, shortest first, with their length.
TIMEFRAMES: dict[str, pd.Timedelta] = {
    "1m": pd.Timedelta(minutes=1),
    "3m": pd.Timedelta(minutes=3),
    "5m": pd.Timedelta(minutes=5),
    "15m": pd.Timedelta(minutes=15),
    "30m": pd.Timedelta(minutes=30),
    "1h": pd.Timedelta(hours=1),
    "2h": pd.Timedelta(hours=2),
    "4h": pd.Timedelta(hours=4),
    "1d": pd.Timedelta(days=1),
    "1w": pd.Timedelta(weeks=1),
}

_TF_PATTERN = re.compile(r"^(\d+)([mhdw])$")


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """Length of one bar of `timeframe`.

    >>> timeframe_delta("15m")
    Timedelta('0 days 00:15:00')
    """
    if timeframe in TIMEFRAMES:
        return TIMEFRAMES[timeframe]
    match = _TF_PATTERN.match(timeframe or "")
    if not match:
        known = ", ".join(TIMEFRAMES)
        raise DataError(f"timeframe {timeframe!r} is not understood; use one of {known}")
    count, unit = int(match.group(1)), match.group(2)
    return pd.Timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: count})


def empty_candles() -> pd.DataFrame:
    """A zero-row frame that satisfies the candle contract."""
    index = pd.DatetimeIndex([], tz="UTC", name="time")
    return pd.DataFrame({c: np.array([], dtype="float64") for c in COLUMNS}, index=index)


def validate_candles(candles: pd.DataFrame, *, name: str = "candles") -> pd.DataFrame:
    """Check the candle contract and return the frame unchanged; raise `DataError` otherwise.

    >>> validate_candles(empty_candles()).shape
    (0, 5)
    """
    if not isinstance(candles, pd.DataFrame):
        raise DataError(f"{name}: expected a pandas DataFrame, got {type(candles).__name__}")
    missing = [c for c in COLUMNS if c not in candles.columns]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)}")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError(f"{name}: index must be a UTC DatetimeIndex of bar open times")
    if str(index.tz) != "UTC":
        raise DataError(f"{name}: index time zone is {index.tz}, expected UTC")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise DataError(f"{name}: index must be sorted and unique")
    for column in COLUMNS:
        dtype = _dtype_of(candles, column)
        if not isinstance(dtype, np.dtype) or dtype != np.float64:
            raise DataError(f"{name}: column {column!r} must be float64")
    return candles


def _dtype_of(candles: pd.DataFrame, column: str):
    """The dtype of `column`, read from its array (building a Series, or the frame's Series of
    dtypes, costs more than the whole check); a name held by several columns gives their
    dtypes as a Series, as ``candles.dtypes[column]`` does, which is no dtype."""
    at = candles.columns.get_loc(column)
    get = getattr(candles, "_get_column_array", None)  # pandas' own, without the Series
    if get is None or not isinstance(at, int):
        return candles.dtypes[column]
    return get(at).dtype


def ohlcv_arrays(candles: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """The five columns as contiguous float64 arrays, for numba kernels."""
    return tuple(np.ascontiguousarray(candles[c].to_numpy(dtype="float64")) for c in COLUMNS)


# --- local time ----------------------------------------------------------------------------

def epoch_minutes(index: pd.DatetimeIndex) -> np.ndarray:
    """Whole minutes since 1970-01-01 UTC of each time (any datetime unit)."""
    return index.asi8 // _PER_MINUTE[index.unit]


def local_minutes(index: pd.DatetimeIndex, tz: str) -> np.ndarray:
    """Local wall-clock minutes since 1970-01-01 of each time in zone `tz` (DST-correct),
    read-only. Kept per (index, zone) while the index lives: an index is immutable, and
    sessions, day boundaries and filters all ask for the same one.

    Converting every bar with pandas is slow for a DST zone; UTC offsets only change on
    quarter-hour boundaries, so the offset is looked up once per quarter hour and broadcast.
    """
    key = id(index)
    entry = _LOCAL_MINUTES.get(key)
    if entry is None or entry[0]() is not index:  # (an index is unhashable: keyed by id)
        entry = (weakref.ref(index, lambda _, key=key: _LOCAL_MINUTES.pop(key, None)), {})
        _LOCAL_MINUTES[key] = entry
    per_zone = entry[1]
    if tz not in per_zone:
        minutes = _local_minutes(index, tz)
        minutes.flags.writeable = False
        per_zone[tz] = minutes
    return per_zone[tz]


_LOCAL_MINUTES: dict[int, tuple[weakref.ref, dict[str, np.ndarray]]] = {}


def _local_minutes(index: pd.DatetimeIndex, tz: str) -> np.ndarray:
    if tz == "UTC" or len(index) == 0:
        return epoch_minutes(index)
    stamps, per_minute = index.asi8, _PER_MINUTE[index.unit]
    first, last = (int(stamps[0]) // per_minute // 15, int(stamps[-1]) // per_minute // 15)
    if first <= last and last - first < 4 * len(stamps):  # dense: look up in a table
        base, table = _offset_table(tz, first, last)
        wall, inside = _wall_minutes_nb(stamps, per_minute, table, base)
        if inside:  # (an unsorted index can leave the table: then as below)
            return wall
    utc = epoch_minutes(index)
    quarter = utc // 15
    wanted, lookup = np.unique(quarter, return_inverse=True)  # sparse: daily bars over decades
    if len(wanted) <= _FEW_QUARTERS:  # the live monitor's new bars: offsets kept per zone
        offset = np.array([_quarter_offset(tz, int(q)) for q in wanted], dtype=np.int64)
    else:
        offset = _quarter_offsets(tz, wanted)
    return utc + offset[lookup]


def _offset_table(tz: str, first: int, last: int) -> tuple[int, np.ndarray]:
    """UTC offsets (minutes) of zone `tz` at every quarter hour from `first` to `last`
    (quarters since the epoch), as (first quarter of the table, table). Built from one table
    per zone and UTC year, made once per process: a fresh frame redoes no time-zone work."""
    if last - first < _FEW_QUARTERS:
        offsets = [_quarter_offset(tz, q) for q in range(first, last + 1)]
        return first, np.array(offsets, dtype=np.int64)
    years = range(_year_of(first), _year_of(last) + 1)
    base = _year_start(years[0])
    if len(years) == 1:
        return base, _year_offsets(tz, years[0])
    return base, np.concatenate([_year_offsets(tz, year) for year in years])


def _year_of(quarter: int) -> int:
    return int(np.datetime64(quarter * 15, "m").astype("M8[Y]").astype(np.int64)) + 1970


def _year_start(year: int) -> int:
    """The first quarter hour (since the epoch) of UTC year `year`."""
    return int(np.datetime64(f"{year:04d}-01-01", "m").astype(np.int64)) // 15


@functools.lru_cache(maxsize=512)
def _year_offsets(tz: str, year: int) -> np.ndarray:
    """UTC offset, in minutes, of zone `tz` at each quarter hour of UTC year `year`."""
    table = _quarter_offsets(tz, np.arange(_year_start(year), _year_start(year + 1)))
    table.flags.writeable = False
    return table


@njit(cache=True)
def _wall_minutes_nb(stamps, per_minute, table, base):
    """Wall-clock minutes of sorted `stamps` (`per_minute` units a minute) from `table`, the
    offsets of every quarter hour from quarter `base` on; False when a time is outside it."""
    out = np.empty_like(stamps)
    for i in range(stamps.shape[0]):
        minute = stamps[i] // per_minute
        row = minute // 15 - base
        if row < 0 or row >= table.shape[0]:
            return out, False
        out[i] = minute + table[row]
    return out, True


def _quarter_offsets(tz: str, quarters: np.ndarray) -> np.ndarray:
    """UTC offset, in minutes, of zone `tz` at each quarter hour (counted since the epoch)."""
    utc_ns = quarters * (15 * _PER_MINUTE["ns"])
    wall_ns = pd.DatetimeIndex(utc_ns, tz="UTC").tz_convert(tz).tz_localize(None).asi8
    return (wall_ns - utc_ns) // _PER_MINUTE["ns"]


@functools.lru_cache(maxsize=1 << 16)
def _quarter_offset(tz: str, quarter: int) -> int:
    return int(_quarter_offsets(tz, np.array([quarter], dtype=np.int64))[0])


_FEW_QUARTERS = 8


_PER_MINUTE = {"s": 60, "ms": 60_000, "us": 60_000_000, "ns": 60_000_000_000}


# --- resampling -------------------------------------------------------------------------------

_DAY_MIN = 1440


def _minute_of(text: str) -> int:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        raise DataError(f"day boundary {text!r} is not HH:MM") from None
    return hours * 60 + minutes


def _period_ids(index: pd.DatetimeIndex, minutes: int, *, day_boundary: str,
                day_tz: str) -> tuple[np.ndarray, int, str]:
    """Period number of every bar, the period length in minutes and the zone periods live in.
    Intraday periods align to UTC midnight; days and weeks to `day_boundary` in `day_tz` (with
    an afternoon boundary, e.g. 17:00 New York for FX, a day is named after the day it ends
    in and a week starts on Sunday at the boundary); weeks otherwise start Monday."""
    if minutes < _DAY_MIN:
        return epoch_minutes(index) // minutes, 0, "UTC"
    local = local_minutes(index, day_tz)
    boundary = _minute_of(day_boundary)
    offset = boundary - (_DAY_MIN if boundary >= 720 else 0)
    if minutes % (7 * _DAY_MIN) == 0:
        offset += 4 * _DAY_MIN  # 1970-01-05 was a Monday
    return (local - offset) // minutes, offset, day_tz


def resample(candles: pd.DataFrame, timeframe: str, *, day_boundary: str = "00:00",
             day_tz: str = "UTC", source_timeframe: str | None = None,
             partial: bool = False) -> pd.DataFrame:
    """Aggregate candles to a higher timeframe: open first, high max, low min, close last,
    volume sum. Bars are labelled by their open time; a period with no source bar is absent.

    Only **complete** periods are returned: the source must cover the whole period, i.e. its
    first bar opens at or before the period's start and its last bar closes at or after the
    period's end. So the first period (data starting at 10:30 for a 10:00 hour) and the last
    one (data ending at 10:07, the hour still forming) are dropped when they are cut; a live
    monitor never acts on a 1h bar before the hour has closed. Missing bars *inside* a period
    (an exchange outage, the FX weekend inside a week) do not make it incomplete: once the
    source has passed the period's end the bar is as complete as it will ever be. A period
    ending in a gap at the end of the data (FX Friday evening for a UTC-midnight day, or a
    week) stays incomplete until the first bar after the gap arrives.

    ``partial=True`` keeps the cut periods and adds a boolean ``partial`` column (True for
    them). `source_timeframe` is the length of one source bar; when omitted it is the
    smallest step between two source bars (pass it when the source may have gaps).

    >>> idx = pd.date_range("2024-01-01", periods=5, freq="1min", tz="UTC", name="time")
    >>> c = pd.DataFrame({"open": [1., 2, 3, 4, 5], "high": [2., 3, 4, 5, 6],
    ...                   "low": [0., 1, 2, 3, 4], "close": [2., 3, 4, 5, 6],
    ...                   "volume": [1., 1, 1, 1, 1]}, index=idx)
    >>> resample(c, "2m").values.tolist()  # the fifth minute alone is not a 2m bar
    [[1.0, 3.0, 0.0, 3.0, 2.0], [3.0, 5.0, 2.0, 5.0, 2.0]]
    >>> resample(c, "2m", partial=True)[PARTIAL].tolist()
    [False, False, True]
    """
    validate_candles(candles)
    target = timeframe_delta(timeframe)
    minutes = int(target.total_seconds() // 60)
    if len(candles) == 0:
        return _with_partial(empty_candles(), np.zeros(0, bool), partial)
    bar = _source_bar(candles.index, source_timeframe, target)
    ids, offset, zone = _period_ids(candles.index, minutes, day_boundary=day_boundary,
                                    day_tz=day_tz)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)] - 1
    o, h, lo, c, v = ohlcv_arrays(candles)
    labels = _period_times(ids[starts] * minutes + offset, zone)
    period_end = _period_times((ids[starts] + 1) * minutes + offset, zone)
    cut = (labels < candles.index[0]) | (period_end > candles.index[-1] + bar)
    frame = pd.DataFrame(
        {OPEN: o[starts], HIGH: np.maximum.reduceat(h, starts),
         LOW: np.minimum.reduceat(lo, starts), CLOSE: c[ends], VOLUME: np.add.reduceat(v, starts)},
        index=labels,
    )
    return _with_partial(frame, cut, partial)


def _period_times(local_minutes_: np.ndarray, zone: str) -> pd.DatetimeIndex:
    """UTC times of period boundaries given as wall-clock minutes in `zone`."""
    if zone == "UTC":
        times = pd.DatetimeIndex(local_minutes_ * 60_000_000_000, tz="UTC")
    else:
        local = pd.DatetimeIndex(local_minutes_ * 60_000_000_000)
        times = local.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
        times = times.tz_convert("UTC")
    return times.as_unit("ns").rename("time")


def _source_bar(index: pd.DatetimeIndex, source_timeframe: str | None,
                target: pd.Timedelta) -> pd.Timedelta:
    """Length of one source bar: given, or the smallest step between two bars (a lone bar
    of unknown length counts as a moment, so its period is partial)."""
    if source_timeframe is not None:
        bar = timeframe_delta(source_timeframe)
    elif len(index) > 1:
        bar = pd.Timedelta((index[1:] - index[:-1]).min())
    else:
        bar = pd.Timedelta(0)
    if bar > target:
        raise DataError(f"cannot resample {bar} bars to the shorter timeframe {target}")
    return bar


def _with_partial(frame: pd.DataFrame, cut: np.ndarray, partial: bool) -> pd.DataFrame:
    if partial:
        return frame.assign(**{PARTIAL: np.asarray(cut, dtype=bool)})
    return frame[~np.asarray(cut, dtype=bool)] if cut.any() else frame
