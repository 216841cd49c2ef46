"""The MT5 watched folder: closed bars from the files `mt5/ITAExport.mq5` rewrites.

Part of `engine.live.feeds` (same contract, see there). The terminal writes, for each chart
symbol and timeframe, ``<SYMBOL>_<TF>.csv`` (``EURUSD_1m.csv``; ITA's timeframe spelling) in
MT5's "Export bars" format (tab-separated, ``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE>
<TICKVOL> <VOL> <SPREAD>``, broker server time), the latest N bars, the last still forming. The
same file imports with ``ita data import FILE --format mt5 --tz <server zone>``. Setup steps:
docs/LIVE_MT5.md.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from engine.adapters.store import CandleStore
from engine.errors import DataError
from engine.live.feeds import Clock, FeedKey, _Feed, checked_keys
from engine.timezones import parse_timezone

log = logging.getLogger("ita.live.feeds")

MT5_SOURCE = "mt5"
MT5_HEADER = ("<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>", "<TICKVOL>")


def mt5_file_name(key: FeedKey) -> str:
    """The file `mt5/ITAExport.mq5` writes for a key: ``EURUSD_1m.csv``."""
    return f"{key.symbol}_{key.timeframe}.csv"


class PartialFile(DataError):
    """The terminal is still writing the file (empty, truncated last line, wrong columns)."""


def read_mt5_bars(path: Path, zone: dt.tzinfo) -> pd.DataFrame:
    """The bars of one exported file (file order kept, NaN where a cell is not a number),
    broker times converted to UTC as the importer does (DST-correct); `PartialFile` when the
    file is not complete."""
    from engine.adapters.importers import _localize

    data = path.read_bytes()
    if not data.strip():
        raise PartialFile(f"{path.name}: empty")
    if not data.endswith(b"\n"):
        raise PartialFile(f"{path.name}: the last line is not complete")
    try:
        table = pd.read_csv(io.BytesIO(data), sep="\t", dtype=str, keep_default_na=False,
                            encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise PartialFile(f"{path.name}: {str(error).splitlines()[0]}") from None
    columns = [str(c).strip().upper() for c in table.columns]
    if tuple(columns[:len(MT5_HEADER)]) != MT5_HEADER:
        raise PartialFile(f"{path.name}: the header is not {' '.join(MT5_HEADER)}")
    table.columns = [c.strip("<>").lower() for c in columns]
    text = (table["date"].str.strip() + " " + table["time"].str.strip())
    text = text.where(text.str.count(":") >= 2, text + ":00")
    parsed = pd.to_datetime(text, format="%Y.%m.%d %H:%M:%S", errors="coerce")
    if parsed.isna().any():
        raise PartialFile(f"{path.name}: cannot read the time {text[parsed.isna()].iloc[0]!r}")
    index = _localize(path, pd.DatetimeIndex(parsed), zone, 2)
    numbers = {c: pd.to_numeric(table[c].str.strip(), errors="coerce").to_numpy(np.float64)
               for c in ("open", "high", "low", "close", "tickvol")}
    real = (pd.to_numeric(table["vol"], errors="coerce").to_numpy(np.float64)
            if "vol" in table else np.zeros(len(table)))
    volume = real if np.nan_to_num(real).any() else numbers["tickvol"]
    frame = pd.DataFrame({"open": numbers["open"], "high": numbers["high"],
                          "low": numbers["low"], "close": numbers["close"], "volume": volume},
                         index=index.as_unit("ns").rename("time"))
    return frame


class Mt5FolderFeed(_Feed):
    """Closed bars from files the trader's MT5 terminal rewrites (`mt5/ITAExport.mq5`):
    ``<folder>/<SYMBOL>_<TF>.csv`` in MT5's "Export bars" format, the latest N bars, the last
    one still forming. Broker server time is converted with `server_tz` (any spelling
    `engine.timezones.parse_timezone` reads; a zone with DST such as ``Europe/Athens`` is
    converted DST-correctly).

    A watchdog observer (`start`/`stop`, or ``with feed:``) notes changed files and wakes
    `wait`; `poll` reads every file that changed (by the observer or by its size, time or
    inode) and ignores one caught mid-write until it changes again, so half a file is never
    ingested."""

    source = MT5_SOURCE

    def __init__(self, folder: str | Path, server_tz: str | dt.tzinfo, store: CandleStore,
                 keys: list[FeedKey], *, clock: Clock | None = None, delay: float = 1.5,
                 retry_interval: float = 2.0, max_catchup_bars: int = 100_000,
                 tolerance: float = 60.0, background_writes: bool = False) -> None:
        super().__init__(checked_keys(keys, source=MT5_SOURCE), store, clock=clock,
                         delay=delay, retry_interval=retry_interval, warmup_bars=0,
                         max_catchup_bars=max_catchup_bars, tolerance=tolerance)
        self._write_behind(background_writes)
        self.folder = Path(folder)
        self.zone = server_tz if isinstance(server_tz, dt.tzinfo) else parse_timezone(
            server_tz, field="MT5 server time zone")
        self._files = {self.folder / mt5_file_name(key): key for key in self.keys}
        self._seen: dict[Path, tuple[int, int, int]] = {}
        self._dirty: set[Path] = set()
        self._changed = threading.Event()
        self._observer = None
        self._lock = threading.Lock()

    # --- watching ---------------------------------------------------------------------
    def start(self) -> Mt5FolderFeed:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        feed = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                for name in (getattr(event, "src_path", ""), getattr(event, "dest_path", "")):
                    path = Path(str(name or ""))
                    if path in feed._files:
                        with feed._lock:
                            feed._dirty.add(path)
                        feed._changed.set()

        self.folder.mkdir(parents=True, exist_ok=True)
        self._observer = Observer()
        self._observer.schedule(Handler(), str(self.folder), recursive=False)
        self._observer.start()
        return self

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def __enter__(self) -> Mt5FolderFeed:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait(self, timeout: float) -> bool:
        """Block until a watched file changes or `timeout` seconds pass; True on a change."""
        changed = self._changed.wait(timeout)
        self._changed.clear()
        return changed

    # --- reading ----------------------------------------------------------------------
    def _changed_files(self) -> list[Path]:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        changed = []
        for path in self._files:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if path in dirty or self._seen.get(path) != signature:
                self._seen[path] = signature
                changed.append(path)
        return changed

    def poll(self, now=None) -> dict[FeedKey, pd.DataFrame]:
        """The bars closed since the last poll in the files that changed, per key."""
        now = self._now(now)
        new = {}
        for state in self._state.values():
            state.started = state.started or now
            state.last_poll = now
        for path in self._changed_files():
            key = self._files[path]
            state = self._state[key]
            try:
                raw = read_mt5_bars(path, self.zone)
            except DataError as error:  # mid-write, or a time that cannot be converted
                state.error = str(error)
                log.info("%s: %s; reading it again when it changes", key, error)
                continue
            state.error = None
            if state.last_bar is None:  # first read: every bar newer than the store's
                state.last_bar = self._stored_last(key, now)
            after = state.last_bar
            closed = np.arange(len(raw)) < len(raw) - 1
            closed |= np.asarray(raw.index + state.step <= now)
            bars = self._accept(key, raw, now, after=after, closed=closed)
            if len(bars):
                new[key] = bars
        return new
