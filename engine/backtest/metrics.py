"""Performance metrics and breakdowns of a simulated run (pure).

Undefined values (a profit factor without losses, a Sharpe ratio of a flat curve) are
``None``, never NaN or infinity, so no page or report shows "nan" as a number.

Trades the rules did not close are reported apart: a trade still open at the end of the data
(exit reason ``end``) or at the end of a walk-forward test window (``window_end``) was closed by
the backtest, not by its stop, target or time exit, so its result says nothing about the setup.
The results over trades (``wins``, ``losses``, ``win_rate``, ``avg_r``, ``expectancy_r``,
``expectancy_money``, ``profit_factor``, ``sqn`` and the streaks) count only the trades the rules
closed; ``closed_at_data_end`` and ``closed_at_window_end`` count the others, so ``trades`` =
``wins`` + ``losses`` + those two. Net results (``total_profit``, ``total_return_pct``, the
drawdowns, Sharpe, Sortino) come from the equity curve and so include their P&L, as do
``fees`` and ``exposure_pct``.

R, gross and net (see ``engine.backtest.simulate``: 1 R is a trade's planned risk in money,
|fill − stop| × size). *Gross* is the price move before fees and slippage, *net* the P&L after
them; every R metric says which:

- ``avg_r_gross``, ``avg_r_net``: the plain mean of the trades' ``r_gross`` / ``r_net``, each
  trade weighing one. ``avg_r`` is ``avg_r_net`` (its old name).
- ``expectancy_r_gross``, ``expectancy_r_net``: what one R risked returned, money-weighted:
  the trades' summed gross / net P&L over their summed risk. It agrees in sign with the money
  (``expectancy_r_net`` > 0 exactly when the trades closed by the rules made money, i.e. when
  ``profit_factor`` > 1). ``expectancy_r`` is ``expectancy_r_net`` (its old name; with equal
  risk on every trade it equals the plain mean, as before).
- ``costs_r``: the mean R that fees and slippage took per trade (``avg_r_gross`` −
  ``avg_r_net``).
- ``sqn`` uses ``r_net`` per trade.

The two kinds part ways when trades risk different money: a trade whose size was capped by the
leverage limit (a stop too tight for the account) risks little, so its fees are many R and drag
the plain mean down, while they weigh little in money. An ``avg_r_net`` of −1.46 beside a
profit factor of 2.4 means exactly that: look at ``costs_r`` and the ``size_capped_by_leverage``
counter, and guard the setup with ``plan.stop.min_cost_multiple``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numba import njit

from engine.candles import CLOSE, timeframe_delta

YEAR = pd.Timedelta(days=365)
NOT_BY_RULES = ("end", "window_end")  # exit reasons of trades the backtest itself closed


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _streak(wins: np.ndarray, target: bool) -> int:
    """Longest run of consecutive trades whose win flag equals `target`."""
    hits = (np.asarray(wins) == target).astype(np.int8)
    edges = np.diff(np.r_[0, hits, 0])
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max(initial=0))


def _drawdown_stats(money: pd.Series, pct: pd.Series) -> tuple[float, float, pd.Timedelta]:
    """The lowest drawdown in money and in % (NaN skipped; NaN when there is none) and the
    longest time from the first to the last bar of one unbroken stretch below the peak, in the
    index's own unit: the minima by numpy's vectorised NaN-skipping reduction, the stretches in
    one pass over the curve and its times."""
    index = money.index
    values, percents = money.to_numpy(float), pct.to_numpy(float)
    low = np.fmin.reduce(values) if len(values) else np.nan
    low_pct = np.fmin.reduce(percents) if len(percents) else np.nan
    longest = _longest_below_zero_nb(values, index.asi8)
    per_unit = pd.Timedelta(1, unit=index.unit).value if len(index) else 1
    return float(low), float(low_pct), pd.Timedelta(int(longest) * per_unit, unit="ns")


@njit(cache=True)
def _longest_below_zero_nb(money, times):
    """The longest ``times[last] - times[first]`` over the unbroken stretches where
    ``money < 0`` (0 when there is none)."""
    longest, start = 0, -1
    n = money.shape[0]
    for i in range(n):
        if money[i] < 0:
            if start < 0:
                start = i
        elif start >= 0:
            longest = max(longest, times[i - 1] - times[start])
            start = -1
    if start >= 0:
        longest = max(longest, times[n - 1] - times[start])
    return longest


def _ratios(equity: pd.Series, timeframe: str) -> tuple[float | None, float | None]:
    """Sharpe and Sortino of per-bar returns, annualised for the bar length (365 days)."""
    return sharpe_sortino(equity.to_numpy(float), timeframe)


def sharpe_sortino(equity: np.ndarray, timeframe: str) -> tuple[float | None, float | None]:
    """`compute_metrics`' Sharpe and Sortino of an equity curve given as an array (the lean
    sweep path, `engine.backtest.lean`, reads them from the kernel's array)."""
    count, mean, std, downside_count, downside_rms = _return_moments_nb(equity)
    if count < 2 or std == 0:
        return None, None
    per_year = math.sqrt(YEAR / timeframe_delta(timeframe))
    sortino = mean / downside_rms * per_year if downside_count > 1 and downside_rms > 0 else None
    return _num(mean / std * per_year), _num(sortino)


# numpy error model: x / 0 gives inf (then skipped), not an exception; reassociation lets the
# sums vectorise (20x faster) while NaN and inf keep their meaning for the isfinite test
@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _return_moments_nb(values: np.ndarray):
    """Of the finite per-bar returns ``values[i] / values[i-1] - 1``: count, mean, sample
    standard deviation, count below zero and the root mean square of ``min(return, 0)`` over
    all of them. One pass: per-bar returns are tiny and centred near zero, so the sum of
    squares loses nothing to cancellation."""
    count, total, squares, down_count, down_sq = 0, 0.0, 0.0, 0, 0.0
    for i in range(1, values.shape[0]):
        r = (values[i] - values[i - 1]) / values[i - 1]
        if np.isfinite(r):
            count += 1
            total += r
            squares += r * r
            if r < 0:
                down_count += 1
                down_sq += r * r
    if count < 2:
        return count, 0.0, 0.0, down_count, 0.0
    mean = total / count
    variance = max((squares - total * mean) / (count - 1), 0.0)
    return count, mean, math.sqrt(variance), down_count, math.sqrt(down_sq / count)


def outcome_metrics(pnl: np.ndarray, r: np.ndarray, risk: np.ndarray, final: float,
                    initial_equity: float) -> dict:
    """``win_rate``, ``expectancy_r``, ``profit_factor``, ``sqn`` and ``total_return_pct`` of
    the trades the rules closed (their P&L, net R and risk in money, as arrays) and of the
    curve's last value: the formulas `compute_metrics` and the lean sweep path
    (`engine.backtest.lean`) share, so both give the same numbers."""
    count = len(pnl)
    risked = risk.sum() if count else 0.0
    wins = pnl > 0
    gross_win, gross_loss = pnl[wins].sum(), -pnl[~wins].sum()
    spread = r.std(ddof=1) if count > 1 else 0.0
    return {
        "win_rate": _num(wins.mean()) if count else None,
        "expectancy_r": _num(pnl.sum() / risked) if risked > 0 else None,
        "profit_factor": _num(gross_win / gross_loss) if gross_loss > 0 else None,
        "sqn": _num(math.sqrt(count) * r.mean() / spread) if count > 1 and spread > 0 else None,
        "total_return_pct": _num((final / initial_equity - 1) * 100),
    }


def compute_metrics(trades: pd.DataFrame, equity: pd.DataFrame, *, timeframe: str,
                    candles: pd.DataFrame, initial_equity: float) -> dict:
    """Every headline metric of the run; see the module docstring on undefined values and on
    trades closed by the end of the data or of a walk-forward window."""
    curve = equity["equity"]
    total = len(trades)
    reasons = trades["exit_reason"].to_numpy() if total else np.empty(0, dtype=object)
    by_rules = ~np.isin(reasons, NOT_BY_RULES)
    count = int(by_rules.sum())
    pnl = trades["pnl"].to_numpy()[by_rules] if count else np.empty(0)
    r = trades["r_multiple"].to_numpy()[by_rules] if count else np.empty(0)
    r_gross = _column(trades, "r_gross")[by_rules] if count else np.empty(0)
    risk = trades["risk"].to_numpy(float)[by_rules] if count else np.empty(0)
    risked = risk.sum() if count else 0.0
    gross_pnl = (r_gross * risk).sum() if count else 0.0
    wins = pnl > 0
    final = float(curve.iloc[-1]) if len(curve) else initial_equity
    shared = outcome_metrics(pnl, r, risk, final, initial_equity)
    sharpe, sortino = _ratios(curve, timeframe)
    low, low_pct, longest = _drawdown_stats(equity["drawdown"], equity["drawdown_pct"])
    held = trades["bars_held"].sum() if total else 0
    first, last = candles[CLOSE].iloc[0], candles[CLOSE].iloc[-1]
    return {
        "trades": total,
        "wins": int(wins.sum()),
        "losses": int(count - wins.sum()),
        "closed_at_data_end": int((reasons == "end").sum()),
        "closed_at_window_end": int((reasons == "window_end").sum()),
        "win_rate": shared["win_rate"],
        "total_profit": _num(final - initial_equity),
        "total_return_pct": shared["total_return_pct"],
        "avg_planned_rr": _num(trades["r_planned"].mean()) if total else None,
        "avg_r": _num(r.mean()) if count else None,
        "expectancy_r": shared["expectancy_r"],
        "avg_r_gross": _num(r_gross.mean()) if count else None,
        "avg_r_net": _num(r.mean()) if count else None,
        "expectancy_r_gross": _num(gross_pnl / risked) if risked > 0 else None,
        "expectancy_r_net": shared["expectancy_r"],
        "costs_r": _num((r_gross - r).mean()) if count else None,
        "expectancy_money": _num(pnl.mean()) if count else None,
        "profit_factor": shared["profit_factor"],
        "max_drawdown": _num(-low) if len(curve) else 0.0,
        "max_drawdown_pct": _num(-low_pct) if len(curve) else 0.0,
        "max_drawdown_duration": str(longest),
        "sharpe": sharpe,
        "sortino": sortino,
        "sqn": shared["sqn"],
        "longest_win_streak": _streak(wins, True),
        "longest_loss_streak": _streak(wins, False),
        "exposure_pct": _num(held / len(candles) * 100) if len(candles) else 0.0,
        "fees": _num(trades["fees"].sum()) if total else 0.0,
        "buy_and_hold_pct": _num((last / first - 1) * 100),
        "start": str(candles.index[0]), "end": str(candles.index[-1]), "bars": len(candles),
    }


def _column(trades: pd.DataFrame, name: str) -> np.ndarray:
    """A float column, NaN where a run written before it existed lacks it."""
    if name in trades:
        return trades[name].to_numpy(float)
    return np.full(len(trades), np.nan)


BREAKDOWNS = ("week", "month", "session", "weekday", "hour", "direction", "setup_version",
              "exit_reason")


CALENDAR = ("week", "month", "weekday", "hour")  # groups that depend on the time zone
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def calendar_key(times: pd.Series, by: str, tz=None) -> pd.Series:
    """The calendar group of each time in zone `tz` (None: UTC): ISO week ``2024-W10``, month
    ``2024-03``, weekday ``Monday`` or hour ``0..23``. A trade entered on Sunday 23:30 UTC is a
    Monday trade in Europe/Berlin."""
    local = pd.to_datetime(times, utc=True).dt.tz_convert(tz or "UTC")
    if by == "week":
        return local.dt.strftime("%G-W%V")
    if by == "month":
        return local.dt.strftime("%Y-%m")
    if by == "weekday":
        return local.dt.day_of_week.map(dict(enumerate(WEEKDAY_NAMES)))
    return local.dt.hour


def breakdown(trades: pd.DataFrame, by: str, *, tz=None) -> pd.DataFrame:
    """Trades, win rate, total and average R, PnL and profit factor per group.

    Week, month, weekday and hour are those of the entry in zone `tz` (the trader's display
    zone; None: UTC), so they agree with the times every table shows.

    ``total_r`` and ``avg_r`` are net R (``r_net``), ``avg_r_gross`` the mean gross R.
    ``trades``, ``total_r`` and ``pnl`` count every trade; ``win_rate``, ``avg_r``,
    ``avg_r_gross`` and ``profit_factor`` only those closed by the rules (see the module
    docstring), except in the breakdown by exit reason, whose groups already keep them
    apart."""
    if by not in BREAKDOWNS:
        raise ValueError(f"breakdown by {by!r}: use one of {', '.join(BREAKDOWNS)}")
    if trades.empty:
        return pd.DataFrame(columns=["trades", "win_rate", "total_r", "avg_r", "avg_r_gross",
                                     "pnl", "profit_factor"])
    if by in CALENDAR and "entry_time" in trades:
        key = calendar_key(trades["entry_time"], by, tz)
    elif by == "direction":
        key = trades["direction"].map({1: "long", -1: "short"})
    else:
        key = trades[by]
    counted = (by == "exit_reason") | ~trades["exit_reason"].isin(NOT_BY_RULES)
    ruled = trades["pnl"].where(counted)  # NaN: left out of the means and sums below
    grouped = trades.assign(_key=key.to_numpy(), _win=np.where(counted, ruled > 0, np.nan),
                            _r=trades["r_multiple"].where(counted),
                            _gross=pd.Series(_column(trades, "r_gross"), index=trades.index
                                             ).where(counted),
                            _pnl=ruled).groupby("_key")
    table = pd.DataFrame({
        "trades": grouped.size(),
        "win_rate": grouped["_win"].mean(),
        "total_r": grouped["r_multiple"].sum(),
        "avg_r": grouped["_r"].mean(),
        "avg_r_gross": grouped["_gross"].mean(),
        "pnl": grouped["pnl"].sum(),
    })
    gains = grouped["_pnl"].apply(lambda p: p[p > 0].sum())
    losses = grouped["_pnl"].apply(lambda p: -p[p <= 0].sum())
    table["profit_factor"] = (gains / losses.where(losses > 0)).astype(float)
    table.index.name = by
    return table
