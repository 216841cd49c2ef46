"""The live path over stored history, and the sample alert: nothing here is ever journaled.

`replay_alerts` runs one setup version bar by bar through the live evaluator
(`engine.live.evaluate.replay`) over stored candles and writes, for each alert, the picture and
the caption the monitor would have sent (``<folder>/<known_at>-<long|short>.png`` and ``.txt``),
plus ``summary.json``. Default folder: ``exchange/replay/<setup>/``.

`send_test_alert` sends one sample alert (a real chart, a caption in the alerts' format) to the
configured Telegram chats, to check the token and chat ids.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from engine._io import write_bytes_atomic, write_json_atomic, write_text_atomic
from engine.adapters.store import CandleStore
from engine.backtest.presentation import price_decimals
from engine.errors import ConfigurationError, DataError
from engine.live.alert import caption, render_png
from engine.live.evaluate import replay
from engine.live.rank import SetupStats, order_alerts, rank
from engine.pipeline import load_candles
from engine.setups.store import SetupStore

REPLAY_DIR = Path("exchange") / "replay"


@dataclasses.dataclass(frozen=True)
class ReplaySummary:
    setup_id: str
    version: int
    symbol: str
    timeframe: str
    bars: int
    alerts: int
    longs: int
    shorts: int
    folder: Path


def replay_alerts(settings, ref: str, *, symbol: str | None = None, start=None, end=None,
                  out: str | Path | None = None, source: str | None = None) -> ReplaySummary:
    """Alerts of setup `ref` (``id`` = active version, ``id@3``) on stored `symbol` candles
    between `start` and `end`, written to `out` (see the module docstring)."""
    home = Path(settings.home)
    loaded = SetupStore(settings.setups_dir).load(ref)
    setup = loaded.setup
    symbol = symbol or setup.market.symbols[0]
    store = CandleStore(settings.candles_dir)
    source = store.resolve_source(symbol, source)
    candles = load_candles(store, symbol, setup.market.timeframe, end=end)
    begin = pd.Timestamp(start, tz="UTC") if start is not None else candles.index[0]
    signals = [s for s in replay(
        setup, loaded.version, candles, timeframe=setup.market.timeframe, source=source)
        if pd.Timestamp(s.known_at) >= begin]
    stats = SetupStats.from_runs(home, loaded.id, loaded.version, tz=settings.display_tz)
    ranked = order_alerts((s, rank(s, stats, account_size=settings.account_size,
                                   risk_pct=settings.risk_pct, costs=setup.costs))
                          for s in signals)
    folder = Path(out) if out is not None else home / REPLAY_DIR / loaded.id
    folder.mkdir(parents=True, exist_ok=True)
    decimals = max(2, price_decimals(candles["close"].to_numpy()[-2000:]))
    rows = []
    for signal, signal_rank in sorted(ranked, key=lambda pair: pd.Timestamp(pair[0].known_at)):
        name = f"{pd.Timestamp(signal.known_at):%Y%m%dT%H%MZ}-" \
               f"{'long' if signal.direction > 0 else 'short'}"
        write_bytes_atomic(folder / f"{name}.png",
                           render_png(candles, signal, tz=settings.display_tz))
        text = caption(signal, signal_rank, tz=settings.display_tz, late=False,
                       decimals=decimals)
        write_text_atomic(folder / f"{name}.txt", text + "\n")
        rows.append({"signal_id": signal.signal_id, "file": f"{name}.png",
                     "score": round(signal_rank.score, 4)})
    in_range = candles.loc[begin:]
    summary = ReplaySummary(loaded.id, loaded.version, symbol, setup.market.timeframe,
                            len(in_range), len(rows),
                            sum(1 for s in signals if s.direction > 0),
                            sum(1 for s in signals if s.direction < 0), folder)
    write_json_atomic(folder / "summary.json", {
        **{k: str(v) if isinstance(v, Path) else v
           for k, v in dataclasses.asdict(summary).items()},
        "source": source, "from": str(in_range.index[0]) if len(in_range) else None,
        "to": str(in_range.index[-1]) if len(in_range) else None, "alerts_list": rows})
    return summary


@dataclasses.dataclass(frozen=True)
class SampleSignal:
    """A made-up long alert on the last bar of some candles (the fields of a live signal)."""

    known_at: pd.Timestamp
    symbol: str
    timeframe: str
    entry: float
    stop: float
    target: float
    source: str = "sample"
    direction: int = 1
    entry_type: str = "market"
    r_planned: float = 2.0
    expiry_bars: int = 0
    time_exit_bars: int = 0
    breakeven_r: float = math.nan
    partial_r: float = math.nan
    partial_fraction: float = math.nan
    setup_id: str = "alerts-test"
    setup_version: int = 1
    reasons: str = "[]"

    @property
    def signal_id(self) -> str:
        return (f"{self.setup_id}@v{self.setup_version}|{self.source}:{self.symbol}|"
                f"{self.timeframe}|{self.known_at:%Y-%m-%dT%H:%MZ}|long")


def sample_candles(settings, *, bars: int = 150) -> tuple[pd.DataFrame, str, str]:
    """The last `bars` stored bars of the first stored series (else a random walk)."""
    store = CandleStore(settings.candles_dir)
    for info in store.series():
        candles = store.read(info.symbol, info.timeframe, source=info.source)
        if len(candles) >= 30:
            return candles.iloc[-bars:], info.symbol, info.timeframe
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
    index = pd.date_range(pd.Timestamp.now(tz="UTC").floor("15min") - pd.Timedelta(
        minutes=15 * bars), periods=bars, freq="15min", name="time")
    opens = np.r_[close[0], close[:-1]]
    frame = pd.DataFrame({"open": opens, "high": np.maximum(opens, close) * 1.001,
                          "low": np.minimum(opens, close) * 0.999, "close": close,
                          "volume": rng.uniform(1, 5, bars)}, index=index)
    return frame, "SAMPLE/USD", "15m"


def send_test_alert(settings, *, channel=None) -> dict[str, int]:
    """Send one sample alert to the configured chats; {chat id: message id}."""
    if channel is None:
        from engine.live.monitor import telegram_from

        channel = telegram_from(settings)
    if channel is None:
        missing = [name for name, value in (("ITA_TELEGRAM_TOKEN", settings.telegram_token),
                                            ("ITA_TELEGRAM_CHAT_ID", settings.telegram_chat_ids))
                   if not value]
        raise ConfigurationError(f"Telegram is not configured: set {' and '.join(missing)} in "
                                 ".env (the chat id: several separated by commas)")
    candles, symbol, timeframe = sample_candles(settings)
    if candles.empty:
        raise DataError("no candles to draw the sample alert on")
    entry = float(candles["close"].iloc[-1])
    risk = max(entry * 0.005, float((candles["high"] - candles["low"]).tail(20).mean()) * 2)
    signal = SampleSignal(candles.index[-1], symbol, timeframe, entry, entry - risk,
                          entry + 2 * risk)
    stats = SetupStats.from_trades(None, setup_id=signal.setup_id, version=1)
    signal_rank = rank(signal, stats, account_size=settings.account_size,
                       risk_pct=settings.risk_pct, costs=None)
    png = render_png(candles, signal, tz=settings.display_tz)
    text = "🧪 <b>Test alert</b>: ITA can reach this chat.\n" + caption(
        signal, signal_rank, tz=settings.display_tz, late=False)
    try:
        return channel.send_alert(png, text, signal.signal_id)
    finally:
        channel.close()
