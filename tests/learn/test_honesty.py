"""The honesty test: where the outcome truly depends on one feature the model finds it and says
"better than chance"; where it depends on nothing the verdict says "not yet"."""

from __future__ import annotations

import numpy as np
import pytest

from engine.learn.model import evaluate, train
from tests.learn.synthetic import market, reversed_market

TREES = 60


@pytest.fixture(scope="module")
def dependent():
    data = market(400, dependent=True, features=6, seed=2)
    return data, evaluate(data, trees=TREES)


@pytest.fixture(scope="module")
def independent():
    data = market(400, dependent=False, features=6, seed=2)
    return data, evaluate(data, trees=TREES)


def test_a_real_edge_is_called_better_than_chance(dependent) -> None:
    _, result = dependent
    assert result.better_than_chance
    assert 0.5 < result.auc_low < result.auc < result.auc_high
    assert result.verdict.startswith(f"better than chance: AUC {result.auc:.2f}")
    assert f"on {result.n:,} out-of-sample signals" in result.verdict
    assert result.auc > result.baselines["constant"]["auc"] + 0.15
    assert result.brier < result.baselines["constant"]["brier"]


def test_a_real_edge_pays_above_a_threshold(dependent) -> None:
    _, result = dependent
    curve = result.thresholds.set_index("threshold")
    assert curve.loc[0.5, "trades"] > 30
    assert curve.loc[0.5, "expected_r"] > curve.loc[0.0, "expected_r"] + 0.3


def test_the_model_leans_on_the_feature_that_matters(dependent) -> None:
    data, _ = dependent
    model = train(data, trees=TREES)
    weight = model.contributions(data.frame).drop(columns="bias").abs().mean()
    assert weight.idxmax() == "edge"
    assert weight["edge"] > 2 * weight.drop("edge").max()


def test_no_edge_is_not_yet(independent) -> None:
    _, result = independent
    assert not result.better_than_chance
    assert result.auc_low <= 0.5
    assert result.verdict.startswith(f"not yet — {result.n:,} out-of-sample signals")
    assert "not better than chance" in result.verdict and "need more" in result.verdict


@pytest.mark.parametrize("seed", [5, 8])
def test_no_edge_stays_not_yet_on_other_draws(seed: int) -> None:
    result = evaluate(market(300, dependent=False, seed=seed), trees=TREES)
    assert not result.better_than_chance
    assert np.isfinite(result.auc)


def test_an_edge_that_reversed_is_called_worse_than_chance_not_need_more() -> None:
    # one fold: trained on the older half, tested on the newer (where the edge flipped)
    result = evaluate(reversed_market(400, seed=3), folds=1, trees=TREES)
    assert not result.better_than_chance
    assert result.auc_high < 0.5
    assert result.verdict.startswith(f"worse than chance: AUC {result.auc:.2f}")
    assert "market changed" in result.verdict and "need more" not in result.verdict


def test_the_folds_show_where_an_edge_reversed() -> None:
    data = reversed_market(400, seed=3)
    flip = data.frame["known_at"].iloc[200]
    folds = evaluate(data, folds=5, trees=TREES).by_fold
    before = folds[folds["test_end"] < flip]
    first_after = folds[folds["test_start"] >= flip].iloc[0]
    assert len(before) >= 2 and (before["auc"] > 0.6).all()
    assert first_after["auc"] < 0.4
