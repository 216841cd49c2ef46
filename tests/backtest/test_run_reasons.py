"""A backtest explains only the signals it trades (issue 16): its trades' reasons are exactly
the full explanations of their signals, its signals.parquet holds those in the traded rows and
"" in the others, and nothing that shows a run's untraded signals reads their reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.backtest.run import preview_backtest, run_backtest
from engine.charts import signal_boxes, signals_not_taken
from engine.demo import run_demo
from engine.journal import journal_frame, untraded_signals
from engine.pipeline import load_candles
from engine.setups.compile import compile_setup
from engine.setups.store import SetupStore

EXAMPLES = ("bos-order-block-retest", "london-asia-sweep-fvg", "ny-fvg-continuation",
            "pdh-sweep-reversal", "sma-cross")
START, END = "2023-03-01", "2023-03-15"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITA_HOME", str(root))
        run_demo()
        yield root


@pytest.fixture()
def in_home(home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(home))
    return home


def _full(setup_id: str):
    """The setup's signals on the run's candles, every row explained (the old behaviour)."""
    version = SetupStore.from_settings().load(setup_id)
    setup = version.setup
    candles = load_candles(CandleStore.from_settings(), setup.market.symbols[0],
                           setup.market.timeframe, start=START, end=END)
    return setup, candles, compile_setup(setup, version=version.version)(
        candles, symbol=setup.market.symbols[0])


@pytest.mark.parametrize("setup_id", EXAMPLES)
def test_trades_reasons_are_the_full_explanations_of_their_signals(in_home, setup_id) -> None:
    setup, _, full = _full(setup_id)
    run = run_backtest(setup_id, start=START, end=END)
    trades = RunStore.from_settings().frame(run.run_id, "trades")
    stored = RunStore.from_settings().frame(run.run_id, "signals")
    assert len(stored) == len(full)
    pd.testing.assert_frame_equal(stored.drop(columns="reasons"), full.drop(columns="reasons"),
                                  check_dtype=False)
    by_time = full.set_index("known_at")["reasons"]
    expected = by_time.loc[pd.DatetimeIndex(trades["signal_time"])].to_numpy()
    assert list(trades["reasons"]) == list(expected)
    assert all(text.startswith("[") for text in trades["reasons"])
    traded = stored["known_at"].isin(trades["signal_time"]).to_numpy()
    assert traded.sum() == len(trades)
    assert list(stored["reasons"][traded]) == list(full["reasons"][traded])
    assert set(stored["reasons"][~traded]) <= {""}
    preview = preview_backtest(setup, start=START, end=END)
    assert list(preview.result.trades["reasons"]) == list(trades["reasons"])


def test_explainer_explains_any_rows_as_the_full_call(in_home) -> None:
    setup, candles, full = _full("london-asia-sweep-fvg")
    signals, explainer = compile_setup(setup, version=full["setup_version"].iloc[0])\
        .explained_later(candles, symbol=setup.market.symbols[0])
    pd.testing.assert_frame_equal(signals.drop(columns="reasons"), full.drop(columns="reasons"))
    assert set(signals["reasons"]) == {""}
    rows = np.array([len(full) - 1, 0, len(full) // 2, 0])  # any order, repeats
    assert list(explainer.explain(rows)) == list(full["reasons"].to_numpy()[rows])
    assert list(explainer.explain(np.arange(len(full)))) == list(full["reasons"])
    assert len(explainer.explain([])) == 0


def test_untraded_signals_are_shown_without_their_reasons(in_home) -> None:
    """The readers of a run's signals that show untraded ones (the Journal's untraded
    section, the run chart's boxes) work on the frame without a reasons column: one that read
    an untraded signal's reasons (now "") would fail here."""
    from app.journal_ui import SIGNAL_SHOWN

    run = run_backtest("sma-cross", start=START, end=END)
    runs = RunStore.from_settings()
    signals = runs.frame(run.run_id, "signals").drop(columns="reasons")
    trades = runs.frame(run.run_id, "trades")
    untraded = untraded_signals(signals, trades)
    assert len(untraded) == len(signals) - len(trades) > 0
    assert "reasons" not in journal_frame(untraded, {}).columns
    assert "reasons" not in SIGNAL_SHOWN
    summary = runs.summary(run.run_id)
    candles = CandleStore.from_settings().read(summary["symbol"], summary["timeframe"],
                                               start=START, end=END)
    boxes = signal_boxes(candles, signals_not_taken(signals, trades))
    assert len(boxes) == len(untraded)
