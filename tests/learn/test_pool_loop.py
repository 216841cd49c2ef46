"""The retrain loop and the CLI with the pool (issue 13): on the demo, the versions with too few
signals of their own make **one** ``learn`` job for the pool (not one per member); once it has
trained, the pool is not due again for the same inputs; ``ita learn train --all`` leaves every
example setup with a card and a verdict, the pool trained once."""

from __future__ import annotations

import json

import pytest

from engine.jobs.bus import JobBus
from engine.learn import ops
from engine.learn.registry import list_models
from engine.learn.retrain import POOL, START_DELAY_SECONDS, STATE_FILE, RetrainLoop

FAST = {"folds": 3, "trees": 15}
SMALL = ["bos-order-block-retest@1", "london-asia-sweep-fvg@1", "ny-fvg-continuation@1",
         "pdh-sweep-reversal@1"]


@pytest.fixture()
def settings(demo_settings):
    return demo_settings


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_pool_is_one_job_and_not_due_again_once_trained(settings, monkeypatch):
    bus, clock = JobBus(settings.exchange_dir), Clock()
    loop = RetrainLoop(settings, bus, clock=clock)
    clock.now += START_DELAY_SECONDS
    setups = {ref.split("@")[0]: {"version": 1} for ref in ops.active_refs(settings)}
    first = loop.step(setups)  # sma-cross: enough of its own
    assert [r["params"] for r in bus.pending()] == [{"setup": "sma-cross@1"}]
    bus.finish_request(first)
    pool = loop.step(setups)
    requests = [r["params"]["setup"] for r in bus.pending()]
    assert pool and requests == [SMALL[0]]  # one job for the four small versions
    memory = json.loads((settings.exchange_dir / STATE_FILE).read_text())
    assert memory[POOL]["due"] and "has no pooled model yet" in memory[POOL]["reason"]
    assert all(not memory[ref]["due"] for ref in SMALL)  # none of them alone
    result = ops.learn(settings, SMALL[0], **FAST)  # what the job does
    assert result.pool and set(SMALL) <= set(result.pool)
    assert {c.ref for c in list_models(settings)} == set(SMALL)  # one card each, trained once
    bus.finish_request(pool)
    due, ref = ops.pool_due(settings)
    assert not due.due and ref is None and "since its model learned from" in due.reason
    clock.now += settings.learn_minutes * 60
    assert loop.step(setups) is None and not bus.pending()
    for small in SMALL:
        setup_id, version = small.split("@")
        alone = ops.due_for_training(settings, setup_id, int(version))
        assert not alone.due and "checked as a whole" in alone.reason


def test_train_all_gives_every_example_setup_a_card_and_a_verdict(settings, monkeypatch):
    calls = []
    evaluate = ops.__dict__["learn_pool"]

    def counted(*args, **kwargs):
        calls.append(1)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(ops, "learn_pool", counted)
    results = ops.learn_all(settings, **FAST)
    assert len(calls) == 1  # the pool trained once for its four members
    assert set(results) == {*SMALL, "sma-cross@1"}
    for ref, result in results.items():
        assert result.trained, (ref, result.evaluation.verdict)
        card = ops.latest_card(settings, *ref.split("@"))
        assert card is not None and card.metrics["verdict"]
        if ref in SMALL:
            assert card.metrics["verdict"].startswith("pooled over 5 setups (")
            assert "too few to judge alone" in card.metrics["verdict"]
        else:
            assert not ops.is_pooled(card)


def test_the_cli_says_when_it_trains_the_pool(module_demo_home, tmp_path, monkeypatch):
    import shutil

    from typer.testing import CliRunner

    from engine.cli import app

    shutil.copytree(module_demo_home, tmp_path / "home")
    monkeypatch.setenv("ITA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "400")
    runner = CliRunner()
    one = runner.invoke(app, ["learn", "train", "pdh-sweep-reversal", "--folds", "3",
                              "--trees", "15"])
    text = " ".join(one.output.split())
    assert one.exit_code == 0, one.output
    assert "too few signals of its own: trained the pooled model of 5 setups" in text
    assert "pooled over 5 setups (" in text and "this setup's own 4 signals" in text
    every = runner.invoke(app, ["learn", "train", "--all", "--folds", "3", "--trees", "15"])
    assert every.exit_code == 0, every.output
    table = every.output
    assert table.count("(pooled)") == 4 and "sma-cross@1" in table
