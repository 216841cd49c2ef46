"""The live monitor records outcomes as closes decide them: after the run, every alert whose
exit bar has closed carries the outcome the backtester's kernel gives it on those bars, and
none carries one its bars had not decided yet."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.backtest.simulate import Costs
from engine.live.journal import SignalJournal, journal_path
from engine.live.outcomes import known_outcomes
from tests.live._replay import replay_closed, seed_home
from tests.live.conftest import START
from tests.live.test_monitor import SMA

TIGHT = SMA.replace("percent: 1.0", "percent: 0.15").replace("percent: 2.0", "percent: 0.3")


@pytest.fixture()
def home(ita_home, bars):
    return seed_home(ita_home, bars, TIGHT.format(id="sma-a", fast=3, slow=8))


def test_the_monitor_records_each_outcome_once_its_exit_bar_closed(
        home, bars, clock, market, telegram) -> None:
    last = START + 60
    replay_closed(home, market, telegram, clock, bars, START, last)
    with SignalJournal(journal_path(home)) as journal:
        signals = journal.recent(1000)
    assert len(signals) >= 3
    closed = bars.iloc[:last]  # the bars closed by the last loop (bar `last` closes later)
    known = {o.signal_id: o for o in known_outcomes(closed, signals, costs=Costs(0.0, 0.0))}
    assert len(known) >= 2  # the run really decides some outcomes
    for signal in signals:
        expected = known.get(signal.signal_id)
        if expected is None:
            assert signal.outcome is None, signal.signal_id
            continue
        assert (signal.outcome, signal.outcome_at) == (expected.outcome, expected.at)
        assert signal.outcome_r == pytest.approx(expected.r)
        assert signal.outcome_at < bars.index[last]
    assert {s.outcome for s in signals} & {"target", "stop"}
    assert all(s.outcome_at is None or s.outcome_at >= pd.Timestamp(s.known_at)
               for s in signals)
