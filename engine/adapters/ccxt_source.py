"""Market data from any ccxt exchange: paginated history into the candle store.

- Resumes from the last stored bar of the series (a second run downloads only what is new).
- Respects the exchange's rate limit (ccxt's ``enableRateLimit``) and retries network errors,
  timeouts and HTTP 429 with exponential backoff; after ``max_retries`` it raises
  `TemporaryError` (try again later). Other exchange errors are translated at this boundary.
- Never stores the still-open last candle: a bar is stored only once ``open + timeframe <= now``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import ccxt
import numpy as np
import pandas as pd

from engine.adapters.store import CandleStore
from engine.candles import COLUMNS, timeframe_delta
from engine.errors import DataError, SourceUnavailable, TemporaryError

PAGE = 1000
FLUSH_PAGES = 50  # write to the store every this many pages (and at the end)
RETRYABLE = (ccxt.RateLimitExceeded, ccxt.DDoSProtection, ccxt.RequestTimeout,
             ccxt.NetworkError)


@dataclasses.dataclass(frozen=True)
class DownloadReport:
    exchange: str
    symbol: str
    timeframe: str
    bars: int
    added: int
    replaced: int
    requests: int
    retries: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None


def make_exchange(exchange_id: str) -> ccxt.Exchange:
    if exchange_id not in ccxt.exchanges:
        import difflib

        near = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=1)
        raise DataError(f"unknown exchange {exchange_id!r}" +
                        (f" — did you mean {near[0]!r}?" if near else ""))
    return getattr(ccxt, exchange_id)({"enableRateLimit": True})


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _rows_to_candles(rows: list) -> pd.DataFrame:
    data = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    index = pd.DatetimeIndex(pd.to_datetime(data[:, 0].astype(np.int64), unit="ms", utc=True),
                             name="time").as_unit("ns")
    frame = pd.DataFrame(data[:, 1:], index=index, columns=list(COLUMNS))
    return frame[~frame.index.duplicated(keep="last")].sort_index()


def _fetch(exchange, symbol, timeframe, since_ms, *, max_retries, sleep, counters):
    for attempt in range(max_retries + 1):
        try:
            counters["requests"] += 1
            return exchange.fetch_ohlcv(symbol, timeframe, since=since_ms, limit=PAGE)
        except RETRYABLE as error:
            if attempt == max_retries:
                raise TemporaryError(f"{exchange.id} {symbol}: still failing after "
                                     f"{max_retries} retries ({type(error).__name__}); "
                                     "try again later") from None
            counters["retries"] += 1
            sleep(min(60.0, 0.5 * 2 ** attempt))
        except ccxt.BadSymbol:
            raise DataError(f"{exchange.id} has no market {symbol!r}") from None
        except ccxt.AuthenticationError:
            raise SourceUnavailable(f"{exchange.id}: authentication failed; check the API "
                                    "key in .env") from None
        except ccxt.ExchangeError as error:
            raise DataError(f"{exchange.id} {symbol}: {str(error)[:200]}") from None
    return []


def download_history(exchange_id: str, symbol: str, timeframe: str, *, since, until=None,
                     store: CandleStore, source: str | None = None,
                     exchange: ccxt.Exchange | None = None,
                     progress: Callable[[float, str], None] | None = None,
                     now: pd.Timestamp | None = None, max_retries: int = 5,
                     sleep: Callable[[float], None] = time.sleep) -> DownloadReport:
    """Download [since, until) into the store, resuming after the last stored bar."""
    exchange = exchange or make_exchange(exchange_id)
    source = source or exchange_id
    step = timeframe_delta(timeframe)
    now = _utc(now) if now is not None else pd.Timestamp.now(tz="UTC")
    end = min(_utc(until), now) if until is not None else now
    start = _utc(since)
    path = store.path(source, symbol, timeframe)
    if path.exists():
        stored = store.read(symbol, timeframe, source=source)
        if len(stored) and stored.index[-1] + step > start:
            start = stored.index[-1] + step
    counters = {"requests": 0, "retries": 0}
    pages: list[pd.DataFrame] = []
    totals = {"bars": 0, "added": 0, "replaced": 0}
    first = last = None
    cursor = start

    def flush() -> None:
        if pages:
            batch = pd.concat(pages)
            batch = batch[~batch.index.duplicated(keep="last")].sort_index()
            report = store.upsert(batch, source=source, symbol=symbol, timeframe=timeframe)
            totals["added"] += report.added
            totals["replaced"] += report.replaced
            pages.clear()

    while cursor < end:
        rows = _fetch(exchange, symbol, timeframe, int(cursor.timestamp() * 1000),
                      max_retries=max_retries, sleep=sleep, counters=counters)
        if not rows:
            break
        page = _rows_to_candles(rows)
        page = page[(page.index >= cursor) & (page.index < end)
                    & (page.index + step <= now)]  # the open candle is never stored
        if page.empty:
            break
        pages.append(page)
        totals["bars"] += len(page)
        first = first or page.index[0]
        last = page.index[-1]
        cursor = last + step
        if progress:
            done = (cursor - start) / max(end - start, step)
            progress(min(float(done), 0.99), f"{totals['bars']:,} bars to {last:%Y-%m-%d %H:%M}")
        if len(pages) >= FLUSH_PAGES:
            flush()
    flush()
    if progress:
        progress(1.0, f"{totals['bars']:,} bars")
    return DownloadReport(exchange_id, symbol, timeframe, totals["bars"], totals["added"],
                          totals["replaced"], counters["requests"], counters["retries"],
                          first, last)
