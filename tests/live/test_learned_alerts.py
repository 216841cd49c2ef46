"""The champion model in the live monitor, end to end (the fake Binance, the fake Telegram, the
real journal, registry and model): an alert of a setup version with a champion says the
model's probability and the similar cases, one without says none; a champion promoted while
the monitor runs is used from the next signal on; a corrupt model file never stops an alert
(one warning)."""

from __future__ import annotations

import logging
import shutil

import pandas as pd
import pytest

from engine.learn.dataset import make_dataset
from engine.learn.live import ChampionScorer
from engine.learn.ops import learn_dataset
from engine.learn.registry import BOOSTER, promote
from engine.live.alert import CAPTION_LIMIT, caption, telegram_length
from engine.live.journal import SignalJournal, journal_path
from engine.live.rank import Rank, order_alerts
from engine.settings import Settings
from engine.setups import parse_setup
from tests.live._replay import replay, replay_closed, replay_monitor, seed_home
from tests.live._signals import make_signal
from tests.live.conftest import START

pytestmark = pytest.mark.usefixtures("quick_charts")  # the chart is not what these check

LIVE = 6000  # the live bars start here: the champion learned from the ones before
SMA = """schema_version: 1
id: sma-a
name: SMA 3/8
market: {symbols: [BTC/USDT], timeframe: 1m}
conditions:
  cross: {detector: ma_cross, kind: sma, fast: 3, slow: 8}
signal: cross
direction: both
plan:
  entry: {type: market}
  stop: {percent: 1.0}
  target: {percent: 2.0}
costs: {fee_bps: 0.0, slippage_bps: 0.0}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_candles):
    """A champion of sma-a v1, trained once (on the bars before the live ones) in a home of its
    own: the tests copy its shared folder into theirs. Returns (shared folder, model id)."""
    home = tmp_path_factory.mktemp("trained")
    settings = Settings(home=home)
    dataset = make_dataset(parse_setup(SMA), demo_candles.iloc[:LIVE], symbol="BTC/USDT",
                           version=1)
    result = learn_dataset(settings, dataset, folds=3, trees=10)
    assert result.card is not None
    if not result.decision.promoted:
        promote(settings, result.card.model_id)
    return settings.shared_kb_dir, result.card.model_id


@pytest.fixture()
def bars(demo_candles) -> pd.DataFrame:
    return demo_candles.iloc[LIVE:LIVE + 1400].copy()


@pytest.fixture()
def home(ita_home, bars):
    return seed_home(ita_home, bars, SMA)


def _give_champion(home, trained) -> str:
    shared, model_id = trained
    shutil.copytree(shared, home / "shared_kb", dirs_exist_ok=True)
    return model_id


def _captions(telegram) -> list[str]:
    return [photo.caption or "" for photo in telegram.photos()]


def test_an_alert_says_the_champions_probability_and_similar_cases(
        home, bars, clock, market, telegram, trained) -> None:
    model_id = _give_champion(home, trained)
    replay_closed(home, market, telegram, clock, bars, START, START + 25)
    captions = _captions(telegram)
    assert len(captions) >= 2
    for text in captions:
        model_line = next(line for line in text.split("\n") if line.startswith("🤖 Model p"))
        p = float(model_line.split("<b>")[1].split("</b>")[0])
        assert 0 <= p <= 1
        assert f"(champion {model_id}, AUC " in model_line
        assert "most similar reached target" in model_line
        assert "model: " in text  # the model's top strength or weakness, in words
        assert telegram_length(text) <= CAPTION_LIMIT
    with SignalJournal(journal_path(home)) as journal:  # kept for the reports and Notion
        kept = [s.probability for s in journal.recent(50)]
    assert kept and all(p is not None and 0 <= p <= 1 for p in kept)


def test_without_a_champion_an_alert_has_no_model_line(
        home, bars, clock, market, telegram) -> None:
    replay_closed(home, market, telegram, clock, bars, START, START + 25)
    captions = _captions(telegram)
    assert len(captions) >= 2
    assert not any("Model p" in text or "model: " in text for text in captions)
    with SignalJournal(journal_path(home)) as journal:
        assert all(s.probability is None for s in journal.recent(50))


def test_a_champion_promoted_while_the_monitor_runs_is_used_from_then_on(
        home, bars, clock, market, telegram, trained) -> None:
    monitor = replay_monitor(home, market, telegram, clock)
    try:
        replay(monitor, bars, clock, START, START + 25)
        before = len(_captions(telegram))
        _give_champion(home, trained)
        replay(monitor, bars, clock, START + 26, START + 60)
    finally:
        monitor.close()
    captions = _captions(telegram)
    assert before >= 2 and len(captions) >= before + 2
    assert not any("Model p" in text for text in captions[:before])
    assert all("Model p" in text for text in captions[before:])


def test_a_corrupt_model_never_stops_an_alert_and_warns_once(
        home, bars, clock, market, telegram, trained, caplog) -> None:
    model_id = _give_champion(home, trained)
    for booster in (home / "shared_kb").rglob(BOOSTER):
        booster.write_bytes(b"not a model")
    monitor = replay_monitor(home, market, telegram, clock)
    with caplog.at_level(logging.WARNING, logger="ita.learn.live"):
        try:
            replay(monitor, bars, clock, START, START + 25)
        finally:
            monitor.close()
    captions = _captions(telegram)
    assert len(captions) >= 2  # every alert went, without the probability
    assert not any("Model p" in text for text in captions)
    warnings = [r for r in caplog.records if r.name == "ita.learn.live"]
    assert len(warnings) == 1
    assert "sma-a@1" in warnings[0].getMessage() and "without its probability" in \
        warnings[0].getMessage()
    assert model_id  # the champion pointer named a model; only its booster was broken


def test_a_scorer_loads_the_champion_once_and_reloads_on_a_new_pointer(
        home, trained, bars, monkeypatch) -> None:
    _give_champion(home, trained)
    settings = Settings(home=home)
    scorer = ChampionScorer(settings)
    loads = []
    real = ChampionScorer._load
    monkeypatch.setattr(ChampionScorer, "_load",
                        lambda self, *args: (loads.append(args[1:]), real(self, *args))[1])
    assert scorer.champion("sma-a", 1) is not None
    assert scorer.champion("sma-a", 1) is not None
    assert len(loads) == 1  # per signal: one stat of the pointer, no model read
    promote(settings, trained[1], reason="again")  # the pointer is written anew
    assert scorer.champion("sma-a", 1) is not None
    assert len(loads) == 2
    assert scorer.champion("sma-b", 1) is None  # no pointer: no champion, nothing loaded
    assert len(loads) == 2


def test_alerts_are_ordered_by_the_models_expected_r_when_there_is_one() -> None:
    plain = (make_signal(setup_id="a"), Rank(score=0.4, trades=50))
    modelled = (make_signal(setup_id="b"),
                Rank(score=0.1, trades=50, probability=0.6, model_expected_r=0.8))
    doubtful = (make_signal(setup_id="c"),
                Rank(score=0.9, trades=50, probability=0.2, model_expected_r=-0.4))
    ordered = order_alerts([plain, modelled, doubtful])
    assert [s.setup_id for s, _ in ordered] == ["b", "a", "c"]


def test_the_model_line_and_reasons_fit_the_caption_limit() -> None:
    rank = Rank(score=0.3, trades=200, size=1.0, risk_money=100.0, probability=0.64,
                model_expected_r=0.9, model_id="m" * 200, model_auc=0.61,
                similar="7 of the 10 most similar reached target",
                model_strengths=("gap 1.8× ATR: above this setup's usual (+0.06)" * 10,),
                model_weaknesses=("stop distance 2.4× ATR: above this setup's usual (−0.04)",),
                strengths=tuple(f"strength {i}: " + "é" * 60 for i in range(20)),
                weaknesses=tuple(f"weakness {i}: " + "😬" * 40 for i in range(20)))
    text = caption(make_signal(), rank, tz="UTC")
    assert telegram_length(text) <= CAPTION_LIMIT
    lines = text.split("\n")
    model = next(line for line in lines if line.startswith("🤖 Model p <b>0.64</b>"))
    assert "AUC 0.61" in model and model.endswith("· 7 of the 10 most similar reached target")
    # the history's overall sentence first, the model's reason right after it
    strengths = [line for line in lines if line.startswith("✅")]
    assert strengths[0].startswith("✅ strength 0:") and strengths[1].startswith("✅ model: gap")
    assert any(line.startswith("❌ model: stop distance") for line in lines)
