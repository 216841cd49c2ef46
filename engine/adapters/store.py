"""The candle store: one Parquet file per series, read with DuckDB.

Layout: ``<root>/<source>/<symbol, URL-quoted>/<timeframe>.parquet`` (``root`` is
``data/candles``). A series is (source, symbol, timeframe). Source names are plain ids and
symbols are percent-encoded (`engine.ids`), so neither can leave its folder: ``..``, ``/`` in a
source, NUL and Windows device names are refused with a `DataError`.

Every write replaces the file atomically (temp file + rename), so a reader — or a ``kill -9``
mid-import — sees the old series or the new one, never half of it. An upsert holds a lock file
beside the series (``<timeframe>.parquet.lock``) from reading the old bars to renaming the new
file, so two processes upserting the same series never lose each other's bars. Deleting a
series and renaming a symbol take the same locks, so neither races an upsert. Lock files stay
behind (as `filelock` itself leaves them): removing a lock file another process waits on would
let two writers in at once.

Missing bars are counted from the spacing of the stored bars: a step of k timeframes is k - 1
missing bars, so the count is never negative, whatever the file held.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import urllib.parse
from pathlib import Path

import duckdb
import filelock
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine._io import atomic_path
from engine.candles import (
    COLUMNS,
    PARTIAL,
    TIMEFRAMES,
    empty_candles,
    resample,
    timeframe_delta,
    validate_candles,
)
from engine.errors import DataError, TemporaryError
from engine.ids import checked_id, symbol_file_name

LOCK_TIMEOUT = 120.0  # seconds an upsert waits for another writer of the same series
LOCK_FREE_READS = 2
ROW_GROUP = 44_640  # one month of 1m bars: reading a month touches one or two row groups


@dataclasses.dataclass(frozen=True)
class UpsertReport:
    """What an upsert changed: new bars, corrected bars, bars that were already identical."""

    added: int
    replaced: int
    unchanged: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None


@dataclasses.dataclass(frozen=True)
class SeriesInfo:
    source: str
    symbol: str
    timeframe: str
    first: pd.Timestamp
    last: pd.Timestamp
    bars: int
    missing_bars: int
    path: Path


def _identity(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _to_time(value) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


class CandleStore:
    """Parquet + DuckDB candle cache.

    >>> store = CandleStore(Path("data/candles"))  # doctest: +SKIP
    >>> store.read("BTC/USDT", "1h", start="2023-03-01", end="2023-03-08")  # doctest: +SKIP
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings=None) -> CandleStore:
        from engine.settings import get_settings

        return cls((settings or get_settings()).candles_dir)

    # --- paths ----------------------------------------------------------------------------
    def path(self, source: str, symbol: str, timeframe: str) -> Path:
        """The series file; refuses names that would leave the store folder.

        >>> CandleStore(Path("c")).path("binance", "BTC/USDT", "1m").as_posix()
        'c/binance/BTC%2FUSDT/1m.parquet'
        """
        timeframe_delta(timeframe)  # digits + m/h/d/w only
        source = checked_id(source, what="source name", error=DataError)
        return self.root / source / symbol_file_name(symbol, error=DataError) / \
            f"{timeframe}.parquet"

    def _sources_of(self, symbol: str) -> list[str]:
        """Sources holding at least one series of `symbol` (a folder left with only lock files
        after a delete or rename holds none)."""
        quoted = symbol_file_name(symbol, error=DataError)
        return sorted(p.parent.name for p in self.root.glob(f"*/{quoted}")
                      if p.is_dir() and self._timeframes_in(p)) if self.root.exists() else []

    @staticmethod
    def _timeframes_in(folder: Path) -> list[str]:
        return [tf for tf in TIMEFRAMES if (folder / f"{tf}.parquet").exists()]

    # --- write ----------------------------------------------------------------------------
    def upsert(self, candles: pd.DataFrame, *, source: str, symbol: str,
               timeframe: str) -> UpsertReport:
        """Merge `candles` into the series: new bars are added, bars with other values replace
        the stored ones (counted as replaced), identical bars change nothing. Idempotent."""
        validate_candles(candles, name=f"{symbol} {timeframe}")
        path = self.path(source, symbol, timeframe)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with filelock.FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT):
                return self._merge(path, candles)
        except filelock.Timeout:
            raise TemporaryError(f"{path}: another process has been writing this series for "
                                 f"{LOCK_TIMEOUT:.0f} s; try again later") from None

    def _merge(self, path: Path, candles: pd.DataFrame) -> UpsertReport:
        """Read-merge-write of one series; the caller holds its lock."""
        old = self._query_file(path, None, None) if path.exists() else empty_candles()
        new = candles.loc[:, list(COLUMNS)]
        new.index = new.index.as_unit("ns").rename("time")
        common = old.index.intersection(new.index)
        same = (old.loc[common].to_numpy() == new.loc[common].to_numpy()).all(axis=1)
        added = len(new.index.difference(old.index))
        replaced = int((~same).sum())
        report = UpsertReport(added, replaced, int(same.sum()),
                              new.index[0] if len(new) else None,
                              new.index[-1] if len(new) else None)
        if added == 0 and replaced == 0:
            return report
        merged = pd.concat([old[~old.index.isin(new.index)], new]).sort_index()
        self._write_file(path, merged)
        return report

    def delete(self, *, symbol: str, timeframe: str, source: str | None = None) -> str:
        """Delete one stored series, under its lock; returns the source it was deleted from.
        A series that is not stored is a `DataError` naming what is stored."""
        source = self.resolve_source(symbol, source)
        path = self.path(source, symbol, timeframe)
        with self._locked([path]):
            if not path.exists():
                have = ", ".join(self._timeframes_in(path.parent)) or "none"
                raise DataError(f"{symbol!r} {timeframe} from {source} is not stored (stored "
                                f"timeframes: {have}); nothing deleted")
            path.unlink()
        return source

    def rename(self, symbol: str, *, to: str, source: str | None = None) -> tuple[str, list[str]]:
        """Store every timeframe of `symbol` under the name `to` (same source); returns the
        source and the timeframes moved. Refuses when `to` already has a series in that source:
        nothing is overwritten, nothing is moved. Each file is renamed under the locks of both
        names, so no upsert of either runs meanwhile."""
        source = self.resolve_source(symbol, source)
        old_folder = self.path(source, symbol, "1m").parent
        new_folder = self.path(source, to, "1m").parent
        if new_folder == old_folder:
            raise DataError(f"{symbol!r} is already called {to!r}; nothing renamed")
        timeframes = self._timeframes_in(old_folder)
        if not timeframes:
            raise DataError(f"no candles stored for {symbol!r} from {source}; nothing renamed")
        new_folder.mkdir(parents=True, exist_ok=True)
        moves = [(old_folder / f"{tf}.parquet", new_folder / f"{tf}.parquet") for tf in timeframes]
        with self._locked([path for move in moves for path in move]):
            taken = self._timeframes_in(new_folder)
            if taken:
                raise DataError(f"{to!r} already has candles from {source} ({', '.join(taken)});"
                                f" delete them first or choose another name; nothing renamed")
            moved = []
            for timeframe, (old, new) in zip(timeframes, moves, strict=True):
                if old.exists():  # an earlier delete may have taken it meanwhile
                    os.rename(old, new)  # same folder tree: atomic, the bars never copied
                    moved.append(timeframe)
        if not moved:
            raise DataError(f"no candles stored for {symbol!r} from {source}; nothing renamed")
        return source, moved

    @contextlib.contextmanager
    def _locked(self, paths: list[Path]):
        """Hold the series locks of `paths` (in one global order, so two callers never
        deadlock) or raise `TemporaryError` after `LOCK_TIMEOUT`."""
        with contextlib.ExitStack() as stack:
            for path in sorted(set(paths)):
                try:
                    stack.enter_context(filelock.FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT))
                except filelock.Timeout:
                    raise TemporaryError(f"{path}: another process has been writing this series"
                                         f" for {LOCK_TIMEOUT:.0f} s; try again later") from None
            yield

    @staticmethod
    def _write_file(path: Path, candles: pd.DataFrame) -> None:
        # microsecond timestamps: DuckDB compares them with query parameters without casts
        candles = candles.set_axis(candles.index.as_unit("us").rename("time"))
        table = pa.Table.from_pandas(candles, preserve_index=True)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, row_group_size=ROW_GROUP, compression="zstd")

    # --- read -----------------------------------------------------------------------------
    @staticmethod
    def _read_file(path: Path, start=None, end=None) -> pd.DataFrame:
        """Read without a lock while nobody writes. DuckDB opens the file more than once, so
        a writer's rename during the read can mix two files (or fail): such a read is
        repeated, and after `LOCK_FREE_READS` disturbed attempts done under the series lock
        (writers hold it for the whole write)."""
        for _ in range(LOCK_FREE_READS):
            before = _identity(path)
            try:
                frame = CandleStore._query_file(path, start, end)
            except duckdb.Error:
                if _identity(path) == before:
                    raise
                continue
            if _identity(path) == before:
                return frame
        try:
            with filelock.FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT):
                return CandleStore._query_file(path, start, end)
        except filelock.Timeout:
            raise TemporaryError(f"{path}: another process has been writing this series for "
                                 f"{LOCK_TIMEOUT:.0f} s; try again later") from None

    @staticmethod
    def _query_file(path: Path, start, end) -> pd.DataFrame:
        where, params = [], [str(path)]
        if start is not None:
            where.append("time >= ?")
            params.append(start)
        if end is not None:
            where.append("time < ?")
            params.append(end)
        sql = "SELECT time, open, high, low, close, volume FROM read_parquet(?)"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            table = con.sql(sql + " ORDER BY time", params=params).to_arrow_table()
        index = pd.DatetimeIndex(table.column("time").to_pandas(), name="time")
        index = (index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC"))
        data = {c: table.column(c).to_numpy().astype(np.float64) for c in COLUMNS}
        return pd.DataFrame(data, index=index.as_unit("ns"))

    def resolve_source(self, symbol: str, source: str | None) -> str:
        if source:
            return source
        sources = self._sources_of(symbol)
        if not sources:
            raise DataError(f"no candles stored for {symbol!r}; import or fetch them first "
                            "(ita data import / ita data fetch)")
        if len(sources) > 1:
            raise DataError(f"{symbol!r} is stored from several sources ({', '.join(sources)});"
                            " choose one with --source")
        return sources[0]

    def read(self, symbol: str, timeframe: str, *, source: str | None = None, start=None,
             end=None, partial: bool = False) -> pd.DataFrame:
        """Candles of one series, `start` inclusive, `end` exclusive (naive times are UTC).

        When `timeframe` is not stored but a lower one is, the highest stored timeframe
        that divides it is read and resampled; a period the stored bars (within
        `start`/`end`) do not cover completely — the hour still forming, an hour cut by
        `start` — is left out, or with ``partial=True`` kept and flagged in a boolean
        ``partial`` column (see `engine.candles.resample`). Stored bars are complete: with
        ``partial=True`` their ``partial`` column is all False."""
        source = self.resolve_source(symbol, source)
        start, end = _to_time(start), _to_time(end)
        path = self.path(source, symbol, timeframe)
        if path.exists():
            candles = self._read_file(path, start, end)
            return candles.assign(**{PARTIAL: False}) if partial else candles
        base = self._base_timeframe(source, symbol, timeframe)
        candles = self._read_file(self.path(source, symbol, base), start, end)
        return resample(candles, timeframe, source_timeframe=base, partial=partial)

    def _base_timeframe(self, source: str, symbol: str, timeframe: str) -> str:
        want = timeframe_delta(timeframe)
        stored = [tf for tf in TIMEFRAMES if self.path(source, symbol, tf).exists()]
        usable = [tf for tf in stored if want % timeframe_delta(tf) == pd.Timedelta(0)
                  and timeframe_delta(tf) < want]
        if not usable:
            have = ", ".join(stored) or "none"
            raise DataError(f"{symbol!r} {timeframe} is not stored and cannot be built from the"
                            f" stored timeframes ({have})")
        return max(usable, key=timeframe_delta)

    # --- coverage -------------------------------------------------------------------------
    def series(self) -> list[SeriesInfo]:
        """Every stored series with its first/last bar, bar count and missing bars."""
        out = []
        for path in sorted(self.root.glob("*/*/*.parquet")) if self.root.exists() else []:
            source, symbol = path.parent.parent.name, urllib.parse.unquote(path.parent.name)
            timeframe = path.stem
            if timeframe not in TIMEFRAMES:
                continue
            try:
                index = self._read_times(path)
            except FileNotFoundError:  # deleted or renamed while we list
                continue
            if not len(index):
                continue
            out.append(SeriesInfo(source, symbol, timeframe, index[0], index[-1], len(index),
                                  missing_bars(index, timeframe), path))
        return out

    @staticmethod
    def _read_times(path: Path) -> pd.DatetimeIndex:
        """The bar times of one series file (only that column is read)."""
        if not pq.read_metadata(path).num_rows:
            return pd.DatetimeIndex([], tz="UTC")
        times = pq.read_table(path, columns=["time"]).column("time").to_numpy()
        index = pd.DatetimeIndex(times)
        return (index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC"))\
            .as_unit("ns").sort_values()

    def gaps(self, symbol: str, timeframe: str, *, source: str | None = None) -> pd.DataFrame:
        """Runs of missing bars: ``start`` (first missing bar), ``end`` (last), ``missing_bars``
        (always at least 1). A step shorter than two bars is no gap: bars a little more than
        one timeframe apart (an H4 export across a daylight-saving change) miss nothing."""
        index = self.read(symbol, timeframe, source=source).index
        return gap_frame(index, timeframe)


def gap_frame(index: pd.DatetimeIndex, timeframe: str) -> pd.DataFrame:
    """The gaps of sorted bar times `index` of `timeframe` (see `CandleStore.gaps`).

    >>> times = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 00:04"])
    >>> gap_frame(times, "1m")["missing_bars"].tolist()
    [2]
    """
    step = timeframe_delta(timeframe)
    if len(index) < 2:
        return pd.DataFrame({"start": index[:0], "end": index[:0],
                             "missing_bars": np.zeros(0, np.int64)})
    delta = index[1:] - index[:-1]
    at = np.flatnonzero(delta >= 2 * step)
    return pd.DataFrame({
        "start": index[at] + step,
        "end": index[at + 1] - step,
        "missing_bars": (delta[at] // step - 1).astype(np.int64),
    })


def missing_bars(index: pd.DatetimeIndex, timeframe: str) -> int:
    """Bars missing between the first and the last of sorted bar times `index`; never
    negative (bars closer than the timeframe count as none missing).

    >>> missing_bars(pd.date_range("2024-01-01", periods=60, freq="1min"), "1h")
    0
    """
    return int(gap_frame(index, timeframe)["missing_bars"].sum())
