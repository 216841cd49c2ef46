"""The ccxt feed: the real ccxt client against the local fake Binance with an advancing clock."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from engine.adapters.store import CandleStore
from engine.errors import TemporaryError
from engine.live import feeds
from engine.live.feeds import CcxtFeed, FeedKey
from tests.data.fake_exchange import FakeBinance, SetClock

BTC = FeedKey("binance", "BTC/USDT", "1m")
BTC5 = FeedKey("binance", "BTC/USDT", "5m")
ETH = FeedKey("binance", "ETH/USDT", "1m")






@pytest.fixture()
def bars(demo_candles) -> pd.DataFrame:
    return demo_candles.iloc[:3000].copy()


@pytest.fixture()
def clock(bars) -> SetClock:
    return SetClock(bars.index[1000] + pd.Timedelta(seconds=1.5))


@pytest.fixture()
def market(bars, clock):
    five = bars.resample("5min", label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    eth = bars.copy()
    eth[["open", "high", "low", "close"]] *= 0.07
    with FakeBinance(bars, series={("BTCUSDT", "5m"): five, ("ETHUSDT", "1m"): eth},
                     clock=clock) as fake:
        fake.five, fake.eth = five, eth
        yield fake


def _feed(market, store, keys, clock, **kwargs) -> tuple[CcxtFeed, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("warmup_bars", 200)
    feed = CcxtFeed("binance", keys, store, exchange=market.client("BTC", "ETH"), clock=clock,
                    sleep=sleeps.append, **kwargs)
    return feed, sleeps


def _klines(market) -> list[dict]:
    return [r for r in market.requests if r["path"].endswith("/klines")]


def test_only_closed_bars_are_returned_and_stored(tmp_path, bars, clock, market) -> None:
    store = CandleStore(tmp_path)
    feed, _ = _feed(market, store, [BTC], clock)
    first = feed.poll()[BTC]  # bar 1000 opened 1.5 s ago: forming
    assert first.index[0] == bars.index[800] and first.index[-1] == bars.index[999]
    np.testing.assert_array_equal(first.to_numpy(), bars.iloc[800:1000].to_numpy())
    assert first.index.tz is not None and first.dtypes.eq(np.float64).all()
    clock.now = bars.index[1000] + pd.Timedelta(seconds=59)  # still forming
    assert feed.poll() == {}
    clock.now = bars.index[1001] + pd.Timedelta(seconds=1.5)  # bar 1000 has closed
    second = feed.poll()[BTC]
    assert list(second.index) == [bars.index[1000]]
    np.testing.assert_array_equal(second.to_numpy(), bars.iloc[1000:1001].to_numpy())
    stored = store.read("BTC/USDT", "1m", source="binance")
    assert list(stored.index) == list(bars.index[800:1001])
    np.testing.assert_array_equal(stored.to_numpy(), bars.iloc[800:1001].to_numpy())


def test_a_bar_the_exchange_still_calls_forming_waits(tmp_path, bars, clock, market) -> None:
    """The exchange's clock lags ours by 3 s: at our close + 1.5 s it still serves the bar as
    forming (partial values); the feed waits until the exchange has started the next bar."""
    feed, _ = _feed(market, CandleStore(tmp_path), [BTC], clock)
    feed.poll()
    market.clock = lambda: clock.now - pd.Timedelta(seconds=3)
    clock.now = bars.index[1001] + pd.Timedelta(seconds=1.5)
    assert feed.poll() == {}
    assert feed.next_due() == clock.now + pd.Timedelta(seconds=2)  # overdue: retry soon
    clock.now += pd.Timedelta(seconds=2)
    new = feed.poll()[BTC]
    np.testing.assert_array_equal(new.to_numpy(), bars.iloc[1000:1001].to_numpy())


def test_first_poll_resumes_from_the_store(tmp_path, bars, clock, market) -> None:
    store = CandleStore(tmp_path)
    store.upsert(bars.iloc[:950], source="binance", symbol="BTC/USDT", timeframe="1m")
    feed, _ = _feed(market, store, [BTC], clock)
    new = feed.poll()[BTC]
    assert new.index[0] == bars.index[950] and len(new) == 50
    assert int(_klines(market)[0]["startTime"]) == bars.index[950].value // 1_000_000


def test_each_series_is_fetched_once_per_poll(tmp_path, bars, clock, market) -> None:
    store = CandleStore(tmp_path)
    feed, _ = _feed(market, store, [BTC, ETH, BTC5, BTC, ETH], clock, warmup_bars=20)
    clock.now = bars.index[1000] + pd.Timedelta(seconds=1.5)  # a 5m close (bar 1000 = :40)
    assert bars.index[1000].minute % 5 == 0
    new = feed.poll()
    asked = sorted((r["symbol"], r["interval"]) for r in _klines(market))
    assert asked == [("BTCUSDT", "1m"), ("BTCUSDT", "5m"), ("ETHUSDT", "1m")]
    assert set(new) == {BTC, ETH, BTC5}
    assert new[BTC5].index[-1] == bars.index[995]  # the 5m bar that just closed
    np.testing.assert_allclose(new[ETH]["close"], bars["close"].iloc[980:1000] * 0.07)
    assert store.read("ETH/USDT", "1m", source="binance").index[-1] == bars.index[999]


def test_a_three_hour_gap_is_caught_up_in_order(tmp_path, bars, clock, market,
                                                monkeypatch) -> None:
    monkeypatch.setattr(feeds, "PAGE", 50)
    store = CandleStore(tmp_path)
    feed, _ = _feed(market, store, [BTC], clock)
    feed.poll()
    market.requests.clear()
    clock.now = bars.index[1180] + pd.Timedelta(seconds=3)  # laptop asleep for three hours
    assert feed.health()[BTC].behind_bars == 180
    missed = feed.poll()[BTC]
    assert list(missed.index) == list(bars.index[1000:1180])  # every bar, oldest first
    assert missed.index.is_monotonic_increasing and missed.index.is_unique
    assert len(_klines(market)) == 4  # 180 bars in pages of 50
    assert store.read("BTC/USDT", "1m", source="binance").index[-1] == bars.index[1179]
    assert feed.health()[BTC].behind_bars == 0


def test_network_errors_and_rate_limits_are_retried(tmp_path, bars, clock, market) -> None:
    feed, sleeps = _feed(market, CandleStore(tmp_path), [BTC], clock)
    market.script = ["429", "503", "reset"]
    new = feed.poll()
    assert len(new[BTC]) == 200
    assert feed.retries == 3 and sleeps == [0.5, 1.0, 2.0]
    assert feed.health()[BTC].error is None


def test_a_feed_that_keeps_failing_reports_it_and_recovers(tmp_path, bars, clock,
                                                          market) -> None:
    feed, sleeps = _feed(market, CandleStore(tmp_path), [BTC, ETH], clock, workers=1,
                         max_retries=2)
    feed.poll()
    clock.now += pd.Timedelta(minutes=5)
    market.script = ["503"] * 3  # BTC's three attempts fail; ETH is asked afterwards
    new = feed.poll()  # no exception reaches the monitor
    health = feed.health()
    assert BTC not in new and len(new[ETH]) == 5
    assert "still failing after 2 retries" in health[BTC].error
    assert "ExchangeNotAvailable" in health[BTC].error and health[ETH].error is None
    clock.now += pd.Timedelta(minutes=1)
    again = feed.poll()
    assert len(again[BTC]) == 6 and feed.health()[BTC].error is None


def test_bad_bars_are_rejected_logged_once_and_never_passed_on(tmp_path, bars, clock, market,
                                                                caplog) -> None:
    store = CandleStore(tmp_path)
    feed, _ = _feed(market, store, [BTC], clock)
    feed.poll()
    future_ms = (clock.now + pd.Timedelta(hours=1)).value // 1_000_000

    def corrupt(symbol, interval, rows):
        rows = [list(r) for r in rows]
        if len(rows) > 8:
            rows[2][4] = "NaN"  # bar 1002: close missing
            rows[4][2] = str(float(rows[4][3]) - 1.0)  # bar 1004: high below low
            rows.insert(7, list(rows[6]))  # bar 1006 twice
        rows.append([future_ms, *rows[0][1:]])  # a bar an hour ahead, in every answer
        return rows

    market.mutate = corrupt
    clock.now = bars.index[1010] + pd.Timedelta(seconds=1.5)
    with caplog.at_level(logging.WARNING, logger="ita.live.feeds"):
        new = feed.poll()[BTC]
        lines = [r.getMessage() for r in caplog.records]
        expected = [bars.index[i] for i in range(1000, 1010) if i not in (1002, 1004)]
        assert list(new.index) == expected
        assert len(lines) == 4, lines
        assert any("16:42:" in x and "NaN" in x for x in lines)
        assert any("16:44:" in x and "inconsistent OHLC" in x for x in lines)
        assert any("16:46:" in x and "duplicate" in x for x in lines)
        assert any("future" in x for x in lines)
        assert feed.health()[BTC].rejected == 4
        caplog.clear()
        clock.now += pd.Timedelta(seconds=3)
        assert feed.poll() == {} and caplog.records == []  # one log line each, not per poll
    stored = store.read("BTC/USDT", "1m", source="binance")
    assert bars.index[1002] not in stored.index and bars.index[1004] not in stored.index
    assert stored.index[-1] == bars.index[1009]


def test_health_lag_silence_and_next_due(tmp_path, bars, clock, market) -> None:
    feed, _ = _feed(market, CandleStore(tmp_path), [BTC, BTC5], clock)
    assert feed.next_due() == clock.now  # never polled: now
    feed.poll()
    health = feed.health()[BTC]
    assert health.last_bar == bars.index[999]
    assert health.lag == pd.Timedelta(seconds=1.5) and not health.silent
    # next 1m close is bar 1000's close; the 5m bar closes later
    assert feed.next_due() == bars.index[1001] + pd.Timedelta(seconds=1.5)
    market.mutate = lambda symbol, interval, rows: []  # the exchange stops serving bars
    clock.now = bars.index[1003] + pd.Timedelta(seconds=1)
    feed.poll()
    health = feed.health()[BTC]
    assert health.behind_bars == 3 and health.silent
    # overdue: poll again after the retry interval
    assert feed.next_due() == clock.now + pd.Timedelta(seconds=2)


def test_a_store_that_cannot_be_written_holds_the_bars_back(tmp_path, bars, clock, market,
                                                            monkeypatch) -> None:
    store = CandleStore(tmp_path)
    feed, _ = _feed(market, store, [BTC], clock)
    feed.poll()
    real = store.upsert

    def locked(*args, **kwargs):
        raise TemporaryError("1m.parquet: another process has been writing this series")

    monkeypatch.setattr(store, "upsert", locked)
    clock.now += pd.Timedelta(minutes=2)
    assert feed.poll() == {}  # not stored, so not passed on; no exception
    assert "storing bars failed" in feed.health()[BTC].error
    monkeypatch.setattr(store, "upsert", real)
    clock.now += pd.Timedelta(seconds=2)
    assert list(feed.poll()[BTC].index) == list(bars.index[1000:1002])


def test_background_writes_store_every_bar_in_order(tmp_path, bars, clock, market) -> None:
    store = CandleStore(tmp_path)
    feed, _ = _feed(market, store, [BTC, ETH], clock, background_writes=True)
    returned = {BTC: [], ETH: []}
    for i in range(1000, 1006):
        clock.now = bars.index[i] + pd.Timedelta(seconds=1.5)
        for key, new in feed.poll().items():
            returned[key].extend(new.index)
    feed.close()
    for key in (BTC, ETH):
        stored = store.read(key.symbol, "1m", source="binance")
        assert list(stored.index) == returned[key] == list(bars.index[800:1005])
