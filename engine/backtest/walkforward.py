"""Walk-forward analysis: optimise on a train window, trade the next test window with the chosen
parameters, step forward by one test window, repeat.

Conventions (each one tested in ``tests/backtest/test_walkforward.py``):

- **Windows.** Window *k* trains on ``train_bars`` bars (from the first bar when ``anchored``)
  and tests on the ``test_bars`` bars right after them; test windows follow each other without
  gap or overlap. Bars after the last whole test window are in no window.
- **History.** A test window's signals are computed on every bar up to its end, so indicators
  and detectors warm up on the bars before it (an SMA(50) is not blind for its first 50 bars),
  and only the signals that became known inside the window are traded. They are exactly the
  signals a compile of the whole data with the same parameters gives in that window.
- **One account.** The signals of all test windows are stitched and simulated once, from the
  first test bar to the end of the data: a trade still open at a window's end is managed on the
  next window's bars (its signals wait, by the one-position rule), and a trade still open at
  the last bar of the data closes there as ``end``. A trade belongs to the window of its
  signal. The out-of-sample win rate counts closed trades only; ``open_at_end`` counts the
  others.
- **Per-window value.** A window's ``in_sample`` is the best objective on its train window
  (``None`` when no trial reached ``min_trades``); its ``out_of_sample`` is the objective over
  its trades and the account's equity on its bars (``None`` where the metric is undefined).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from engine.backtest.metrics import compute_metrics
from engine.backtest.optimise import NO_SCORE, Progress, optimise
from engine.backtest.simulate import Costs, SimulationResult, Sizing, simulate
from engine.errors import SetupError
from engine.setups import apply_parameters, compile_setup
from engine.setups.schema import Setup

OPEN_AT_END = ("end", "window_end")  # exit reasons of trades the data cut, not the plan


@dataclasses.dataclass
class WalkForward:
    windows: pd.DataFrame  # per window: train/test range, chosen params, in/out-of-sample value
    out_of_sample_trades: pd.DataFrame  # the stitched simulation's trades, with `window`
    out_of_sample_signals: pd.DataFrame  # the signals traded, with `window`
    out_of_sample_equity: pd.DataFrame  # equity from the first test bar to the last bar
    in_sample_mean: float | None
    out_of_sample: dict


def walkforward(setup: Setup, candles: pd.DataFrame, *, symbol: str, train_bars: int,
                test_bars: int, anchored: bool = False, objective: str = "expectancy_r",
                n_trials: int = 30, min_trades: int = 5, costs: Costs | None = None,
                sizing: Sizing | None = None, progress: Progress | None = None,
                client=None) -> WalkForward:
    """Optimise on each train window, trade the next test window with the chosen parameters;
    see the module docstring for every convention.

    >>> result = walkforward(setup, candles, symbol="BTC/USDT", train_bars=4000,
    ...                      test_bars=1000)  # doctest: +SKIP
    >>> result.out_of_sample["expectancy_r"]  # doctest: +SKIP

    With a Dask `client` each window's study runs as one task on its workers (the same answers:
    each study is seeded and independent).
    """
    costs = costs or Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
    sizing = sizing or Sizing("risk_percent", setup.risk.percent)
    starts = list(range(0, len(candles) - train_bars - test_bars + 1, test_bars))
    if train_bars < 1 or test_bars < 1 or not starts:
        raise SetupError(f"walk-forward needs at least {train_bars + test_bars} bars, the range "
                         f"has {len(candles)}")
    rows, parts = [], []
    trains = [candles.iloc[0 if anchored else start: start + train_bars] for start in starts]
    study = {"symbol": symbol, "objective": objective, "n_trials": n_trials,
             "min_trades": min_trades, "costs": costs, "sizing": sizing}
    if client is not None:
        from engine.backtest.distributed import best_of_windows

        found = best_of_windows(client, setup, trains, progress=progress, **study)
    for number, start in enumerate(starts):
        test_lo, test_hi = start + train_bars, start + train_bars + test_bars
        train = trains[number]
        best = found[number] if client is not None else optimise(setup, train, **study)
        chosen = apply_parameters(setup, best.best_params)
        signals = compile_setup(chosen)(candles.iloc[:test_hi], symbol=symbol)
        inside = signals["known_at"] >= candles.index[test_lo]
        parts.append(signals[inside.to_numpy()].assign(window=number))
        rows.append({"window": number, "train_start": train.index[0],
                     "train_end": train.index[-1], "test_start": candles.index[test_lo],
                     "test_end": candles.index[test_hi - 1], "params": best.best_params,
                     "in_sample": best.best_value if best.best_value > NO_SCORE else None})
        if progress and client is None:
            progress((number + 1) / len(starts), f"window {number + 1}/{len(starts)}")
    first = starts[0] + train_bars
    span = candles.iloc[first:]
    signals = pd.concat(parts, ignore_index=True)
    result = simulate(span, signals.drop(columns="window"), costs=costs, sizing=sizing)
    trades = result.trades.assign(window=_window_of(result.trades["signal_time"], rows))
    windows = pd.DataFrame(rows)
    _score_windows(windows, trades, result, span, first, test_bars,
                   timeframe=setup.market.timeframe, objective=objective)
    in_sample = windows["in_sample"].dropna()
    return WalkForward(windows, trades, signals, result.equity,
                       float(in_sample.mean()) if len(in_sample) else None,
                       _summary(trades, result, span, timeframe=setup.market.timeframe))


def _window_of(signal_times: pd.Series, rows: list[dict]) -> np.ndarray:
    """The number of the test window each signal time falls in."""
    starts = pd.DatetimeIndex([row["test_start"] for row in rows]).as_unit("ns").asi8
    times = pd.DatetimeIndex(signal_times).as_unit("ns").asi8
    return (np.searchsorted(starts, times, side="right") - 1).astype(np.int64)


def _score_windows(windows: pd.DataFrame, trades: pd.DataFrame, result: SimulationResult,
                   span: pd.DataFrame, first: int, test_bars: int, *, timeframe: str,
                   objective: str) -> None:
    """Add each window's out-of-sample objective value and trade count to `windows`."""
    values, counts = [], []
    curve = result.equity["equity"]
    for number in windows["window"]:
        lo, hi = number * test_bars, (number + 1) * test_bars  # positions in `span`
        own = trades[trades["window"] == number]
        before = float(curve.iloc[lo - 1]) if lo else result.initial_equity
        metrics = compute_metrics(own, result.equity.iloc[lo:hi], timeframe=timeframe,
                                  candles=span.iloc[lo:hi], initial_equity=before)
        values.append(metrics.get(objective))
        counts.append(len(own))
    windows["out_of_sample"] = values
    windows["test_trades"] = counts


def _summary(trades: pd.DataFrame, result: SimulationResult, span: pd.DataFrame, *,
             timeframe: str) -> dict:
    """Headline out-of-sample numbers of the stitched simulation: the run's own metrics
    (`compute_metrics`, so expectancy and win rate mean what they mean everywhere), plus the
    R total, the trades still open at the end and the signals skipped while in a trade."""
    metrics = compute_metrics(trades, result.equity, timeframe=timeframe, candles=span,
                              initial_equity=result.initial_equity)
    r = trades["r_multiple"]
    return {**metrics, "open_at_end": int(trades["exit_reason"].isin(OPEN_AT_END).sum()),
            "total_r": float(r.sum()) if len(r) else 0.0,
            "skipped_in_position": result.counters["skipped_in_position"]}
