"""`run_backtest`: the one implementation the CLI, the pages and the daemon call.

Setup version + stored candles -> signals -> simulation -> metrics -> an atomic run folder
whose summary records everything needed to reproduce it: setup id, version, text hash and rule
hash, the data range and a hash of the candles, ITA's version, costs, sizing and counters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Literal

import pandas as pd

import engine
from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.backtest.lean import fingerprint as data_hash  # a run summary's data_hash
from engine.backtest.metrics import compute_metrics
from engine.backtest.simulate import Costs, SimulationResult, Sizing, check_gap_entry, simulate
from engine.candles import timeframe_delta
from engine.pipeline import detect_setup, load_candles
from engine.setups.compile import Explainer, compile_setup
from engine.setups.schema import Setup
from engine.setups.store import SetupStore

Progress = Callable[[float, str], None]


@dataclasses.dataclass
class RunResult:
    run_id: str
    path: object
    summary: dict
    result: SimulationResult


def _lower_candles(store: CandleStore, symbol: str, timeframe: str, start, end):
    """1m candles under a higher timeframe, to resolve bars that touch stop and target."""
    if timeframe_delta(timeframe) <= pd.Timedelta(minutes=1):
        return None
    try:
        return store.read(symbol, "1m", start=start, end=end)
    except engine.errors.DataError:
        return None


def simulate_signals(setup: Setup, candles: pd.DataFrame, signals: pd.DataFrame, *,
                     symbol: str, candle_store: CandleStore, costs: Costs, sizing: Sizing,
                     initial_equity: float = 10_000.0,
                     gap_entry: Literal["fill", "skip"] = "fill",
                     explainer: Explainer | None = None,
                     ) -> tuple[SimulationResult, dict, bool]:
    """Simulate `setup`'s `signals` on `candles` (with stored 1m bars to resolve bars that
    touch stop and target) and measure the result: (simulation, metrics, whether 1m bars were
    used). Shared by `run_backtest` and `preview_backtest`. With an `explainer` (signals
    compiled by `CompiledSetup.explained_later`) the trades' reasons are those of their signals,
    explained now; the untraded signals are never explained."""
    timeframe = setup.market.timeframe
    lower = _lower_candles(candle_store, symbol, timeframe, candles.index[0],
                           candles.index[-1] + timeframe_delta(timeframe))
    result = simulate(candles, signals, costs=costs, sizing=sizing,
                      initial_equity=initial_equity, lower_candles=lower, gap_entry=gap_entry,
                      explain=explainer.at_bars if explainer is not None else None)
    metrics = compute_metrics(result.trades, result.equity, timeframe=timeframe,
                              candles=candles, initial_equity=initial_equity)
    return result, metrics, lower is not None


def traded_reasons(signals: pd.DataFrame, result: SimulationResult) -> pd.DataFrame:
    """The run's signals frame: the traded signals' reasons are their trades' (the same text),
    the untraded signals' stay ``""`` (never explained: nothing shows them)."""
    rows = result.signal_rows
    if rows is None or not len(rows):
        return signals
    reasons = signals["reasons"].to_numpy(copy=True)
    reasons[rows] = result.trades["reasons"].to_numpy()
    out = signals.copy(deep=False)
    out["reasons"] = pd.Series(reasons, index=signals.index, dtype=object)
    return out


@dataclasses.dataclass
class Preview:
    """A quick backtest of a setup that is not saved (a draft): nothing is written."""

    symbol: str
    timeframe: str
    signals: int
    metrics: dict
    result: SimulationResult


def preview_backtest(setup: Setup, *, symbol: str | None = None, start=None, end=None,
                     candle_store: CandleStore | None = None,
                     initial_equity: float = 10_000.0) -> Preview:
    """Backtest an unsaved `setup` on stored candles (its first symbol by default) with its
    own costs and risk; a `DataError` when no candles are stored. Writes nothing."""
    candle_store = candle_store or CandleStore.from_settings()
    symbol = symbol or setup.market.symbols[0]
    candles = load_candles(candle_store, symbol, setup.market.timeframe, start=start, end=end)
    signals, explainer = compile_setup(setup).explained_later(candles, symbol=symbol)
    result, metrics, _ = simulate_signals(
        setup, candles, signals, symbol=symbol, candle_store=candle_store,
        costs=Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
        sizing=Sizing("risk_percent", setup.risk.percent), initial_equity=initial_equity,
        explainer=explainer)
    return Preview(symbol, setup.market.timeframe, len(signals), metrics, result)


def run_backtest(ref: str, *, symbol: str | None = None, start=None, end=None,
                 costs: Costs | None = None, sizing: Sizing | None = None,
                 initial_equity: float = 10_000.0, candle_store: CandleStore | None = None,
                 setup_store: SetupStore | None = None, run_store: RunStore | None = None,
                 progress: Progress | None = None,
                 gap_entry: Literal["fill", "skip"] = "fill") -> RunResult:
    """Backtest a setup version (``"id"`` = active, ``"id@3"``) on stored candles.

    ``gap_entry`` is `simulate`'s: what to do with an entry whose bar opens beyond the stop."""
    check_gap_entry(gap_entry)
    report = progress or (lambda fraction, message: None)
    candle_store = candle_store or CandleStore.from_settings()
    run_store = run_store or RunStore.from_settings()
    report(0.05, "detecting signals")
    found = detect_setup(ref, symbol=symbol, start=start, end=end, candle_store=candle_store,
                         setup_store=setup_store, explain=False)
    setup = found.version.setup
    costs = costs or Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
    sizing = sizing or Sizing("risk_percent", setup.risk.percent)
    report(0.4, f"simulating {len(found.signals)} signals")
    result, metrics, lower = simulate_signals(
        setup, found.candles, found.signals, symbol=found.symbol, candle_store=candle_store,
        costs=costs, sizing=sizing, initial_equity=initial_equity, gap_entry=gap_entry,
        explainer=found.explainer)
    report(0.8, "computing metrics")
    now = dt.datetime.now(dt.UTC)
    run_id = (f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{setup.id}-"
              f"v{found.version.version}")
    summary = {
        "run_id": run_id, "created_at": now.isoformat(), "ita_version": engine.__version__,
        "setup_id": setup.id, "setup_version": found.version.version,
        "setup_hash": found.version.hash, "rule_hash": found.version.rule_hash,
        "symbol": found.symbol, "timeframe": setup.market.timeframe,
        "data_start": str(found.candles.index[0]), "data_end": str(found.candles.index[-1]),
        "data_bars": len(found.candles), "data_hash": data_hash(found.candles),
        "requested_start": str(start) if start else None,
        "requested_end": str(end) if end else None,
        "costs": dataclasses.asdict(costs), "sizing": dataclasses.asdict(sizing),
        "initial_equity": initial_equity, "gap_entry": gap_entry,
        "signals": len(found.signals),
        "signals_dropped_invalid_stop": found.dropped,
        "counters": {"filtered_stop_too_tight": found.counters["filtered_stop_too_tight"],
                     **result.counters},
        "lower_timeframe_resolution": lower, "metrics": metrics,
    }
    path = run_store.write(run_id, frames={"trades": result.trades, "equity": result.equity,
                                           "signals": traded_reasons(found.signals, result)},
                           summary=summary)
    report(1.0, f"done: {metrics['trades']} trades")
    return RunResult(run_id, path, summary, result)
