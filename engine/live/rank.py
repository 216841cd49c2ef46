"""How good has this kind of alert been, and how much to risk on it.

`SetupStats.from_runs` reads the backtest runs of one setup version (``runs/<run-id>/``, see
`engine.adapters.runs`) and keeps, per trade, what the buckets below need. `rank` scores one
live signal against them and writes its strengths, weaknesses and risk suggestion in words.

| bucket    | a trade belongs to it when                                                  |
| --------- | --------------------------------------------------------------------------- |
| overall   | always                                                                      |
| session   | its signal bar is in the same session as the alert's (Asia, London, New     |
|           | York, later names winning where they overlap, else "outside the sessions"), |
|           | the rule the backtester's ``session`` column follows                        |
| weekday   | its signal bar falls on the alert's weekday in the trader's zone            |
| direction | long or short, as the alert                                                 |
| symbol    | same symbol (only when the runs cover more than one)                        |

Numbers follow `engine.backtest.metrics`: only trades closed by the rules count (a trade the
end of the data or of a walk-forward window closed says nothing about the setup); the
expectancy is **net R**, money-weighted: the trades' summed P&L after fees and slippage over
their summed risk (``expectancy_r_net``); the win rate is the share with a positive P&L. A
trade that several runs of the version hold (overlapping ranges) counts once: the newest run's
row is kept (key: symbol, signal bar, direction).

The score, in R per trade, shrinks every measured expectancy by its sample size (see `rank`):
a setup with no history scores 0 (no edge known) and says "no history yet"; three lucky trades
never outrank sixty good ones.

**The champion model.** When the setup version has a champion model (`engine.learn.live`), the
monitor fills ``Rank.probability`` (calibrated probability of reaching the target), the model's
expected R ``p × r_planned − (1 − p)``, its id and AUC, the similar-cases sentence and its top
strength and weakness in words. Alerts are then ordered by **that expected R** instead of the
score (`Rank.order_value`): both are R per trade, but the model's number is about this very
signal (its features, judged out of sample by walk-forward), while the score only knows the
buckets it falls into. The score stays on the alert and in the journal; an alert without a
champion is ordered by its score, on the same R scale as the others.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from engine.adapters.runs import RunStore
from engine.backtest.metrics import NOT_BY_RULES
from engine.backtest.presentation import price_decimals
from engine.detect.sessions import session_mask
from engine.setups.compile import round_trip_cost
from engine.setups.stops import RULE_OF_THUMB

PRIOR_TRADES = 30  # k: how many trades of evidence the prior (0 R, then the overall) weighs
MIN_TRADES = 5  # a bucket with fewer trades is not worth a sentence of its own
SESSIONS = ("asia", "london", "new_york")  # later names win where they overlap (as simulate)
SESSION_NAMES = {"asia": "Asia session", "london": "London session",
                 "new_york": "New York session", "other": "Outside the main sessions"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NO_HISTORY = "no history yet: no backtest of this setup version to measure it by"
_COLUMNS = ["symbol", "direction", "signal_time", "pnl", "risk", "exit_reason"]


class SignalLike(Protocol):
    """The fields ranking, alerts and comments read: a fresh `engine.live.evaluate.LiveSignal`
    or a signal read back from the alert journal (`engine.live.journal.JournalSignal`, when a
    restart redraws an unsent alert) both have them."""

    known_at: pd.Timestamp
    symbol: str
    direction: int
    entry_type: str
    entry: float
    stop: float
    target: float
    r_planned: float
    setup_id: str
    setup_version: int
    reasons: str
    timeframe: str
    source: str


class CostsLike(Protocol):
    fee_bps: float
    slippage_bps: float


@dataclasses.dataclass(frozen=True)
class Bucket:
    """The trades of one bucket: count (closed by the rules), win rate and net expectancy."""

    label: str
    trades: int
    win_rate: float | None
    expectancy_r: float | None

    def sentence(self) -> str:
        """``London session: +0.42 R over 61 trades, 48% won``."""
        if not self.trades or self.expectancy_r is None:
            return f"{self.label}: no trades yet"
        noun = "trade" if self.trades == 1 else "trades"
        won = f", {self.win_rate * 100:.0f}% won" if self.win_rate is not None else ""
        return f"{self.label}: {self.expectancy_r:+.2f} R over {self.trades} {noun}{won}"


def session_of(times) -> np.ndarray:
    """Session name of each bar time: ``asia``, ``london``, ``new_york`` or ``other``."""
    index = pd.DatetimeIndex(times)
    out = np.full(len(index), "other", dtype=object)
    for name in SESSIONS:
        out[session_mask(index, name)] = name
    return out


def weekday_of(times, tz) -> np.ndarray:
    """English weekday name of each time in zone `tz`."""
    local = pd.DatetimeIndex(times).tz_convert(tz)
    return np.asarray(WEEKDAYS, dtype=object)[local.day_of_week.to_numpy()]


@dataclasses.dataclass(frozen=True)
class SetupStats:
    """Per trade of a setup version's backtests: symbol, direction, session, weekday (in `tz`),
    net P&L and risk in money, and whether the rules closed it."""

    setup_id: str
    version: int
    trades: pd.DataFrame
    runs: int = 0
    tz: str = "UTC"

    @classmethod
    def from_runs(cls, home: Path | str, setup_id: str, version: int, *, tz: str = "UTC"
                  ) -> SetupStats:
        """The trades of every run of ``setup_id`` version `version` under ``<home>/runs``
        (none: an empty history). `tz` is the zone weekdays are read in (the trader's)."""
        store = RunStore(Path(home) / "runs")
        suffix = f"-{setup_id}-v{version}"
        frames, runs = [], 0
        for run_id in store.ids():  # newest first; run ids end in -<setup>-v<N>
            if not run_id.endswith(suffix):
                continue
            summary = store.summary(run_id)
            if summary.get("setup_id") != setup_id or summary.get("setup_version") != version:
                continue
            runs += 1
            frames.append(pd.read_parquet(Path(store.root) / run_id / "trades.parquet",
                                          columns=_COLUMNS))
        return cls.from_trades(pd.concat(frames, ignore_index=True) if frames else None,
                               setup_id=setup_id, version=version, runs=runs, tz=tz)

    @classmethod
    def from_trades(cls, trades: pd.DataFrame | None, *, setup_id: str, version: int,
                    runs: int = 1, tz: str = "UTC") -> SetupStats:
        """From a trades frame (`engine.backtest.simulate`'s columns), first row of a
        duplicate (symbol, signal bar, direction) kept: pass the newest run's trades first."""
        if trades is None or trades.empty:
            return cls(setup_id, version, _empty_trades(), runs, tz)
        t = trades.drop_duplicates(["symbol", "signal_time", "direction"], keep="first")
        times = pd.DatetimeIndex(t["signal_time"])
        frame = pd.DataFrame({
            "symbol": t["symbol"].astype(str).to_numpy(),
            "direction": t["direction"].to_numpy(np.int64),
            "session": session_of(times), "weekday": weekday_of(times, tz),
            "pnl": t["pnl"].to_numpy(float), "risk": t["risk"].to_numpy(float),
            "by_rules": ~t["exit_reason"].isin(NOT_BY_RULES).to_numpy(),
        })
        return cls(setup_id, version, frame, runs, tz)

    @property
    def has_history(self) -> bool:
        return bool(self.trades["by_rules"].any())

    def bucket(self, label: str, rows: np.ndarray | None = None) -> Bucket:
        """The `Bucket` of the trades `rows` selects (all when None), closed by the rules."""
        t = self.trades
        keep = t["by_rules"].to_numpy(bool)
        if rows is not None:
            keep = keep & rows
        pnl, risk = t["pnl"].to_numpy()[keep], t["risk"].to_numpy()[keep]
        n, risked = int(keep.sum()), float(risk.sum())
        return Bucket(label, n, float((pnl > 0).mean()) if n else None,
                      float(pnl.sum() / risked) if risked > 0 else None)

    def overall(self) -> Bucket:
        return self.bucket("Overall")

    def buckets_for(self, signal: SignalLike) -> list[Bucket]:
        """The session, weekday, direction (and symbol) buckets `signal` falls into."""
        t, at = self.trades, pd.DatetimeIndex([signal.known_at])
        session = session_of(at)[0]
        weekday = weekday_of(at, self.tz)[0]
        side = "long" if signal.direction > 0 else "short"
        found = [
            self.bucket(SESSION_NAMES[session], (t["session"] == session).to_numpy()),
            self.bucket(f"{weekday}s", (t["weekday"] == weekday).to_numpy()),
            self.bucket(f"{side.capitalize()}s",
                        (t["direction"] == (1 if signal.direction > 0 else -1)).to_numpy()),
        ]
        if t["symbol"].nunique() > 1:
            found.append(self.bucket(f"On {signal.symbol}",
                                     (t["symbol"] == signal.symbol).to_numpy()))
        return found


def _empty_trades() -> pd.DataFrame:
    return pd.DataFrame({"symbol": pd.Series([], dtype=object),
                         "direction": pd.Series([], dtype=np.int64),
                         "session": pd.Series([], dtype=object),
                         "weekday": pd.Series([], dtype=object),
                         "pnl": pd.Series([], dtype=float), "risk": pd.Series([], dtype=float),
                         "by_rules": pd.Series([], dtype=bool)})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rank:
    """One alert's score (R per trade, shrunk; see `rank`), its strengths and weaknesses in
    words, the position size and money at risk for the account, and warnings; `trades` is
    the history's sample size (0: no history yet). The ``probability`` and ``model_*`` fields
    and ``similar`` come from the setup version's champion model (`engine.learn.live`; None
    and empty without one)."""

    score: float
    probability: float | None = None
    strengths: tuple[str, ...] = ()
    weaknesses: tuple[str, ...] = ()
    size: float | None = None
    risk_money: float | None = None
    warnings: tuple[str, ...] = ()
    trades: int = 0
    model_expected_r: float | None = None  # p × r_planned − (1 − p), R per trade
    model_id: str | None = None
    model_auc: float | None = None
    similar: str = ""  # "7 of the 10 most similar reached target"
    model_strengths: tuple[str, ...] = ()  # the model's top reasons, in words
    model_weaknesses: tuple[str, ...] = ()

    @property
    def order_value(self) -> float:
        """What alerts are ordered by: the model's expected R when there is a champion,
        else the score (module docstring)."""
        if self.model_expected_r is not None and math.isfinite(self.model_expected_r):
            return self.model_expected_r
        return self.score


def shrink(value: float | None, trades: int, toward: float, *, prior: int = PRIOR_TRADES
           ) -> float:
    """``(n x value + k x toward) / (n + k)``: a measured mean pulled toward `toward` by its
    sample size; with no trades it is `toward`.

    >>> shrink(1.0, 30, 0.0)
    0.5
    >>> shrink(None, 0, 0.2)
    0.2
    """
    if not trades or value is None:
        return toward
    return (trades * value + prior * toward) / (trades + prior)


def rank(signal: SignalLike, stats: SetupStats, *, account_size: float, risk_pct: float,
         costs: CostsLike | None) -> Rank:
    """Score `signal` by its setup version's history and suggest its risk.

    Score (net R per trade): the setup's overall expectancy E over n trades is first shrunk
    toward 0 R, the "no edge" prior worth k = `PRIOR_TRADES` trades: ``S = n E / (n + k)``.
    Each bucket the signal falls into (its session, weekday in the trader's zone, direction,
    and symbol when the history has several) differs from the overall by ``e_b - E`` over its
    n_b trades; that difference is shrunk by its own sample size and added:
    ``score = S + mean_b(n_b / (n_b + k) x (e_b - E))``. So no history scores 0, a bucket
    moves the score only as far as its trades justify, and a bucket holding every trade adds
    nothing (its evidence is the overall's, never counted twice): three trades at +3 R score
    +0.27, sixty at +0.5 R score +0.33.

    Size: ``risk_money = account_size x risk_pct / 100`` and ``size = risk_money / |entry -
    stop|`` (units of the instrument). Warnings: the stop within `RULE_OF_THUMB` (3) round
    trips of `costs` (fees and slippage both ways, as ``plan.stop.min_cost_multiple``), and a
    position whose notional exceeds the account (it needs leverage)."""
    overall = stats.overall()
    base = shrink(overall.expectancy_r, overall.trades, 0.0)
    buckets = stats.buckets_for(signal)
    moves = [b.trades / (b.trades + PRIOR_TRADES) * (b.expectancy_r - overall.expectancy_r)
             for b in buckets if b.trades and b.expectancy_r is not None]
    score = base + (float(np.mean(moves)) if moves else 0.0)
    strengths, weaknesses = _words(overall, buckets, base)
    size, risk_money, warnings = _risk(signal, account_size=account_size, risk_pct=risk_pct,
                                       costs=costs)
    return Rank(score=score, strengths=tuple(strengths), weaknesses=tuple(weaknesses),
                size=size, risk_money=risk_money, warnings=tuple(warnings),
                trades=overall.trades)


def _words(overall: Bucket, buckets: list[Bucket], base: float) -> tuple[list, list]:
    """Strengths (positive expectancy) and weaknesses (zero or negative; too few trades to
    judge): the overall first, then the buckets, strongest evidence first. A bucket holding
    every trade (all longs of a long-only setup) repeats the overall and is left out."""
    if not overall.trades:
        return [], [NO_HISTORY]
    good, bad, thin = [], [], []
    for b in [overall, *buckets]:
        if b is not overall and b.trades == overall.trades:
            continue
        if b.trades < MIN_TRADES or b.expectancy_r is None:
            noun = "trade" if b.trades == 1 else "trades"
            thin.append(f"{b.label}: only {b.trades} {noun}, too few to judge")
            continue
        first = b is overall
        weight = shrink(b.expectancy_r, b.trades, base)
        if b.expectancy_r > 0:
            good.append((not first, -weight, b.sentence()))
        else:
            bad.append((not first, weight, b.sentence()))
    return [s for *_, s in sorted(good)], [s for *_, s in sorted(bad)] + thin


def _risk(signal: SignalLike, *, account_size: float, risk_pct: float,
          costs: CostsLike | None) -> tuple[float | None, float | None, list[str]]:
    entry, stop = float(signal.entry), float(signal.stop)
    distance = abs(entry - stop)
    warnings = []
    if not (math.isfinite(distance) and distance > 0):
        return None, None, ["the stop is at the entry: no position size"]
    risk_money = account_size * risk_pct / 100
    size = risk_money / distance
    decimals = max(2, price_decimals([entry, stop]))
    if costs is not None:
        cost = float(round_trip_cost(costs, entry))
        if cost > 0 and distance < RULE_OF_THUMB * cost:
            warnings.append(
                f"stop {distance:,.{decimals}f} away is only {distance / cost:.1f}x the "
                f"round-trip costs ({cost:,.{decimals}f}): fees and slippage take "
                f"{cost / distance * 100:.0f}% of 1 R")
    notional = size * entry
    if account_size > 0 and notional > account_size:
        warnings.append(f"the position ({notional:,.2f}) is {notional / account_size:.1f}x "
                        "the account: it needs leverage")
    return size, risk_money, warnings


def order_alerts(ranked: Iterable[tuple[SignalLike, Rank]]) -> list[tuple[SignalLike, Rank]]:
    """(signal, rank) pairs best first: highest `Rank.order_value` (the champion's expected R,
    else the score), then the larger history, then by setup id, symbol and time so the order
    never depends on arrival."""
    return sorted(ranked, key=lambda pair: (-pair[1].order_value, -pair[1].trades,
                                            str(pair[0].setup_id), str(pair[0].symbol),
                                            pd.Timestamp(pair[0].known_at)))
