"""Candle importers: Binance kline CSV, MetaTrader 5 "Export bars", and any CSV with a time
column. Each converts to the candle contract (UTC bar open times, float64 OHLCV).

Every problem raises `DataError` with one line naming the file, the row (the line number in the
file) and what is wrong; nothing is written until the whole file has validated, and the store
write itself is atomic, so a bad file or a killed import leaves the store as it was.
Files are read in chunks (`CHUNK_ROWS`), so a file larger than memory is validated chunk by
chunk and only the compact float arrays are kept.

The timeframe a trader declares is checked against the file: the spacing most bars have (the
mode of the steps between bar times) must be that timeframe, else the import is refused with
`TimeframeMismatch`, which names the spacing found and the timeframe to use instead. Gaps,
weekends and a daylight-saving step do not change the mode.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from engine.candles import COLUMNS, TIMEFRAMES, VOLUME, timeframe_delta
from engine.errors import DataError
from engine.timezones import parse_timezone

CHUNK_ROWS = 1_000_000
FORMATS = ("auto", "binance", "mt5", "csv")
TIME_NAMES = ("open_time", "time", "timestamp", "datetime", "date_time", "date", "ts",
              "open time", "opentime", "gmt time", "local time")
BINANCE_RAW = ["open_time", "open", "high", "low", "close", "volume", "close_time",
               "quote_volume", "trades", "taker_base", "taker_quote", "ignore"]
Progress = Callable[[float, str], None]


@dataclasses.dataclass(frozen=True)
class ImportReport:
    path: Path
    symbol: str
    timeframe: str
    source: str
    rows: int
    added: int
    replaced: int
    unchanged: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None


class TimeframeMismatch(DataError):
    """The bars of a file are not as far apart as the declared timeframe.

    `spacing` is what the file's bars show (``"1h"``, or ``"10m"`` when that is no ITA
    timeframe), `suggested` the timeframe to import it as (None when the spacing is none)."""

    def __init__(self, path: Path, *, declared: str, spacing: str) -> None:
        self.path, self.declared, self.spacing = path, declared, spacing
        self.suggested = spacing if spacing in TIMEFRAMES else None
        fix = (f"use --timeframe {spacing}" if self.suggested else
               f"ITA's timeframes are {', '.join(TIMEFRAMES)}: export the file in one of them")
        super().__init__(f"{path.name}: bars are {spacing} apart but --timeframe {declared} "
                         f"was given; {fix}")


def bar_spacing(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The step most bars are apart (the mode of the differences; the shorter on a tie),
    None for fewer than two bars.

    >>> bar_spacing(pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 01:00",
    ...                               "2024-01-01 02:00", "2024-01-01 05:00"]))
    Timedelta('0 days 01:00:00')
    """
    if len(index) < 2:
        return None
    steps, counts = np.unique(np.diff(index.asi8), return_counts=True)
    return pd.Timedelta(int(steps[np.argmax(counts)]), unit="ns")


def spacing_name(step: pd.Timedelta) -> str:
    """A step in timeframe spelling: ``1h``, ``4h``, ``1w``; ``10m`` or ``90s`` when it is not
    one of ITA's timeframes.

    >>> spacing_name(pd.Timedelta(hours=4)), spacing_name(pd.Timedelta(seconds=90))
    ('4h', '90s')
    """
    known = next((tf for tf, delta in TIMEFRAMES.items() if delta == step), None)
    if known:
        return known
    seconds = int(step.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{step.total_seconds():g}s"


def check_timeframe(path: Path, index: pd.DatetimeIndex, timeframe: str) -> None:
    """Raise `TimeframeMismatch` unless most bars of `index` are `timeframe` apart."""
    step = bar_spacing(index)
    if step is not None and step != timeframe_delta(timeframe):
        raise TimeframeMismatch(path, declared=timeframe, spacing=spacing_name(step))


def _fail(path: Path, line: int | None, problem: str) -> DataError:
    where = f"{path.name}:{line}" if line else path.name
    return DataError(f"{where}: {problem}")


def _sniff(path: Path) -> str:
    """The first non-empty line; rejects empty, binary and non-text files."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as handle:
        head = handle.read(8192)
    if not head.strip():
        raise _fail(path, None, "the file is empty")
    if b"\x00" in head:
        raise _fail(path, None, "this is a binary file, not a CSV text file")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = head.decode("utf-16")  # MT5 sometimes exports UTF-16
        except UnicodeDecodeError:
            raise _fail(path, None, "the file is not text (cannot decode it as UTF-8)") from None
    return next((line for line in text.splitlines() if line.strip()), "")


def detect_format(path: Path) -> str:
    first = _sniff(path)
    if first.lstrip("\ufeff").startswith("<DATE>"):
        return "mt5"
    cells = [c.strip().lower() for c in first.replace("\t", ",").split(",")]
    if cells and cells[0] in ("open_time", "opentime") or (
            len(cells) == 12 and all(_is_number(c) for c in cells)):
        return "binance"
    return "csv"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_candles_file(path: str | Path, *, format: str = "auto", tz: str | None = None,
                      progress: Progress | None = None) -> pd.DataFrame:
    """Parse and validate a candle file into a contract frame (unsorted rows are sorted).

    `tz` is the zone of times written without one, in any spelling `parse_timezone` reads
    (``UTC``, ``Europe/Athens``, ``Etc/GMT-2``, ``+02:00``, ``UTC+2``); default UTC."""
    path = Path(path)
    if format not in FORMATS:
        raise DataError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    zone = parse_timezone(tz, field=f"{path.name}: --tz") if tz else None
    kind = detect_format(path) if format == "auto" else format
    _sniff(path)
    if kind == "mt5" and not tz:
        raise _fail(path, None, "MetaTrader 5 times are broker server time: give its time zone"
                                " with --tz (e.g. Europe/Athens, or +02:00); ITA does not guess")
    reader = {"mt5": _mt5_chunks, "binance": _binance_chunks, "csv": _generic_chunks}[kind]
    parts, line = [], 2
    size = max(path.stat().st_size, 1)
    for raw, consumed in reader(path):
        frame = _to_contract(path, raw, tz=zone, first_line=line, kind=kind)
        parts.append(frame)
        line += len(raw)
        if progress:
            progress(min(consumed / size, 0.99), f"read {line - 2:,} rows")
    if not parts or sum(len(p) for p in parts) == 0:
        raise _fail(path, None, "the file has a header but no candles")
    return _finish(path, pd.concat(parts))


# --- readers: yield (raw chunk with columns time_raw + OHLCV, bytes consumed) ---------------

def _chunks(path: Path, **kwargs):
    try:
        # no forced dtype: clean numeric columns parse as floats in C (fast); a column with
        # anything else stays text and is checked cell by cell below, naming the row
        reader = pd.read_csv(path, chunksize=CHUNK_ROWS, keep_default_na=False,
                             encoding_errors="strict", **kwargs)
        with reader:
            for chunk in reader:
                yield chunk, reader.handles.handle.tell() if hasattr(reader, "handles") else 0
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        message = str(error).strip().splitlines()[0]
        raise _fail(path, None, f"cannot read as CSV: {message}") from None


def _binance_chunks(path: Path):
    header = _sniff(path).split(",")[0].strip().lower() in ("open_time", "opentime")
    names = None if header else BINANCE_RAW
    for chunk, pos in _chunks(path, header=0 if header else None, names=names):
        chunk.columns = [str(c).strip().lower() for c in chunk.columns]
        yield _pick(path, chunk, "open_time"), pos


def _mt5_chunks(path: Path):
    for chunk, pos in _chunks(path, sep="\t"):
        chunk.columns = [str(c).strip().strip("<>").lower() for c in chunk.columns]
        missing = [c for c in ("date", "time", "open", "high", "low", "close") if
                   c not in chunk.columns]
        if missing:
            names = ", ".join(f"<{m.upper()}>" for m in missing)
            raise _fail(path, 1, f"missing MT5 column(s) {names}")
        vol = chunk.get("vol")
        tick = chunk.get("tickvol")
        use_tick = vol is None or (pd.to_numeric(vol, errors="coerce").fillna(0) == 0).all()
        chunk = chunk.assign(time_raw=chunk["date"].astype(str) + " " + chunk["time"].astype(str),
                             volume=(tick if use_tick and tick is not None else vol))
        yield chunk[["time_raw", *COLUMNS]], pos


def _generic_chunks(path: Path):
    first = _sniff(path)
    try:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    for chunk, pos in _chunks(path, sep=delimiter):
        chunk.columns = [str(c).strip().strip("<>").lower() for c in chunk.columns]
        if "date" in chunk.columns and "time" in chunk.columns:
            chunk = chunk.assign(time_raw=chunk["date"].astype(str) + " "
                                 + chunk["time"].astype(str))
            yield _pick(path, chunk, "time_raw"), pos
            continue
        time_col = next((c for c in TIME_NAMES if c in chunk.columns), None)
        if time_col is None:
            raise _fail(path, 1, "no time column found (expected one of: "
                                 f"{', '.join(TIME_NAMES[:6])}, ...)")
        yield _pick(path, chunk, time_col), pos


def _pick(path: Path, chunk: pd.DataFrame, time_col: str) -> pd.DataFrame:
    if "vol" in chunk.columns and VOLUME not in chunk.columns:
        chunk = chunk.rename(columns={"vol": VOLUME})
    if VOLUME not in chunk.columns and "tickvol" in chunk.columns:
        chunk = chunk.rename(columns={"tickvol": VOLUME})
    missing = [c for c in COLUMNS if c not in chunk.columns]
    if missing:
        raise _fail(path, 1, f"missing column(s) {', '.join(missing)}")
    return chunk.rename(columns={time_col: "time_raw"})[["time_raw", *COLUMNS]]


# --- conversion and validation ------------------------------------------------------------

def _parse_times(path: Path, raw: pd.Series, *, tz: dt.tzinfo | None, first_line: int,
                 kind: str) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(raw):
        numeric = raw
        text = raw.astype(str)
    else:
        text = raw.astype(str).str.strip()
        numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all() and len(numeric):
        magnitude = numeric.abs().max()
        unit = "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" \
            if magnitude < 1e17 else "ns"
        return pd.DatetimeIndex(pd.to_datetime(numeric.astype("int64"), unit=unit, utc=True))
    fmt = "%Y.%m.%d %H:%M:%S" if kind == "mt5" else "ISO8601"
    if kind == "mt5":
        text = text.where(text.str.count(":") >= 2, text + ":00")
    parsed = pd.to_datetime(text, errors="coerce", format=fmt, utc=False)
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise _fail(path, first_line + row, f"cannot read the time {raw.iloc[row]!r}")
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        return index.tz_convert("UTC")
    return _localize(path, index, tz or dt.UTC, first_line)


def _localize(path: Path, index: pd.DatetimeIndex, zone: dt.tzinfo, first_line: int):
    try:
        local = index.tz_localize(zone, ambiguous="infer", nonexistent="raise")
    except (ValueError, OverflowError) as error:  # pandas' NonExistent/AmbiguousTimeError
        raise _fail(path, None, f"a time does not exist or is ambiguous in {zone} (daylight "
                                f"saving change): {str(error).splitlines()[0]}") from None
    return local.tz_convert("UTC")


def _to_contract(path: Path, raw: pd.DataFrame, *, tz, first_line: int,
                 kind: str) -> pd.DataFrame:
    index = _parse_times(path, raw["time_raw"], tz=tz, first_line=first_line, kind=kind)
    values = {}
    for column in COLUMNS:
        cells = raw[column]
        if pd.api.types.is_numeric_dtype(cells):
            numbers = cells.to_numpy(np.float64)
        else:
            numbers = pd.to_numeric(cells.astype(str).str.strip(),
                                    errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(numbers)
        if bad.any():
            row = int(np.argmax(bad))
            raise _fail(path, first_line + row,
                        f"{column} {raw[column].iloc[row]!r} is not a number")
        values[column] = numbers
    frame = pd.DataFrame(values, index=index.as_unit("ns").rename("time"))
    _check_prices(path, frame, first_line)
    return frame


def _check_prices(path: Path, frame: pd.DataFrame, first_line: int) -> None:
    o, h, lo, c, v = (frame[x].to_numpy() for x in COLUMNS)
    checks = [
        (h < lo, "high {h} is below low {lo}"),
        ((o < lo) | (o > h), "open {o} is outside [low {lo}, high {h}]"),
        ((c < lo) | (c > h), "close {c} is outside [low {lo}, high {h}]"),
        (v < 0, "volume {v} is negative"),
    ]
    for bad, message in checks:
        if bad.any():
            row = int(np.argmax(bad))
            raise _fail(path, first_line + row, message.format(
                o=o[row], h=h[row], lo=lo[row], c=c[row], v=v[row]))


def _finish(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_index(kind="stable")
    dup = frame.index.duplicated(keep=False)
    if dup.any():
        dups = frame[dup]
        differing = dups.groupby(level=0).nunique().gt(1).any(axis=1)
        if differing.any():
            times = ", ".join(str(t) for t in differing[differing].index[:3])
            raise _fail(path, None, f"{int(differing.sum())} duplicate time(s) with different"
                                    f" values, e.g. {times}: fix the file, ITA will not pick one")
        frame = frame[~frame.index.duplicated(keep="first")]
    return frame


def import_file(path: str | Path, *, symbol: str, timeframe: str, store, source: str | None = None,
                tz: str | None = None, format: str = "auto",
                progress: Progress | None = None) -> ImportReport:
    """Read, validate and upsert a candle file into `store` (atomic, idempotent). A file
    whose bars are not `timeframe` apart raises `TimeframeMismatch` and stores nothing."""
    path = Path(path)
    if timeframe not in TIMEFRAMES:  # refused before the file is read
        timeframe_delta(timeframe)  # "1x": not understood
        raise DataError(f"timeframe {timeframe!r} is not one of ITA's timeframes "
                        f"({', '.join(TIMEFRAMES)}); the store lists only those")
    candles = read_candles_file(path, format=format, tz=tz, progress=progress)
    check_timeframe(path, candles.index, timeframe)
    source = source or ("mt5" if (format == "mt5" or detect_format(path) == "mt5") else "csv")
    report = store.upsert(candles, source=source, symbol=symbol, timeframe=timeframe)
    if progress:
        progress(1.0, f"imported {len(candles):,} bars")
    return ImportReport(path, symbol, timeframe, source, len(candles), report.added,
                        report.replaced, report.unchanged, report.first, report.last)


def read_text_csv(text: str) -> pd.DataFrame:
    """Parse CSV text (for tests and the app's paste box) through the generic reader."""
    return pd.read_csv(io.StringIO(text))
