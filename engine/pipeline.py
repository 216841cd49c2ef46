"""Operations shared by the CLI, the app and the daemon: each exists once, here.

They wire the stores (adapters) to the pure core: load a setup version, read its candles at
its timeframe, compile, detect.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from engine.adapters.store import CandleStore
from engine.errors import DataError
from engine.setups.compile import Explainer, compile_setup
from engine.setups.schema import Setup
from engine.setups.stops import StopCheck, check_stop_costs
from engine.setups.store import SetupStore, SetupVersion


@dataclasses.dataclass
class Detection:
    version: SetupVersion
    symbol: str
    candles: pd.DataFrame
    signals: pd.DataFrame
    detections: dict[str, pd.DataFrame]
    dropped: int  # signals with a stop or target on the wrong side of the entry
    # the compiler's counters: dropped_invalid_stop, filtered_stop_too_tight
    counters: dict[str, int] = dataclasses.field(default_factory=dict)
    # with ``explain=False``: the signals' reasons are "" and this explains any row later
    explainer: Explainer | None = None


def load_candles(store: CandleStore, symbol: str, timeframe: str, *, start=None,
                 end=None) -> pd.DataFrame:
    candles = store.read(symbol, timeframe, start=start, end=end)
    if candles.empty:
        raise DataError(f"no {symbol} candles between {start or 'the start'} and "
                        f"{end or 'the end'}; see `ita data list` for what is stored")
    if candles.isna().any().any():
        raise DataError(f"{symbol} {timeframe}: the stored candles contain NaN values")
    return candles


def detect_setup(ref: str, *, symbol: str | None = None, start=None, end=None,
                 candle_store: CandleStore | None = None,
                 setup_store: SetupStore | None = None,
                 with_detections: bool = False, explain: bool = True) -> Detection:
    """Signals (and optionally every detection) of a setup version on stored candles.

    ``explain=False`` leaves every ``reasons`` cell ``""`` and sets ``Detection.explainer``,
    which explains the rows that are read (the backtest: its traded signals only)."""
    setup_store = setup_store or SetupStore.from_settings()
    candle_store = candle_store or CandleStore.from_settings()
    version = setup_store.load(ref)
    setup = version.setup
    symbol = symbol or setup.market.symbols[0]
    candles = load_candles(candle_store, symbol, setup.market.timeframe, start=start, end=end)
    compiled = compile_setup(setup, version=version.version)
    explainer = None
    if explain:
        signals = compiled(candles, symbol=symbol)
    else:
        signals, explainer = compiled.explained_later(candles, symbol=symbol)
    detections = compiled.detections(candles) if with_detections else {}
    return Detection(version, symbol, candles, signals, detections, compiled.dropped,
                     dict(compiled.counters), explainer)


def detect_rule(setup: Setup, *, symbol: str | None = None, start=None, end=None,
                candle_store: CandleStore | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The candles and signals of a rule that is not stored as a version (the Editor's canvas
    with unsaved edits), on stored candles at its timeframe; its signals carry version 0."""
    candle_store = candle_store or CandleStore.from_settings()
    symbol = symbol or setup.market.symbols[0]
    candles = load_candles(candle_store, symbol, setup.market.timeframe, start=start, end=end)
    return candles, compile_setup(setup)(candles, symbol=symbol)


def check_setup_stops(setup: Setup, *, candle_store: CandleStore | None = None) -> StopCheck:
    """The stop check of `engine.setups.stops` on the stored candles of the setup's first
    symbol at its timeframe; a `DataError` when none are stored."""
    candle_store = candle_store or CandleStore.from_settings()
    symbol = setup.market.symbols[0]
    candles = load_candles(candle_store, symbol, setup.market.timeframe)
    return check_stop_costs(setup, candles, symbol=symbol)
