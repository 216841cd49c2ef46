"""Research job functions in-process: ranges replaced for one run only, an Optuna job run
again resumes its study and runs only the missing trials, results survive as files."""

from __future__ import annotations

import pytest

from engine.backtest.optimise import OBJECTIVES
from engine.backtest.research import ResearchStore, run_optimise, run_sweep, with_ranges
from engine.demo import run_demo
from engine.errors import JobError, SetupError
from engine.jobs import kinds
from engine.jobs.bus import JobBus
from engine.setups.store import SetupStore

SMALL = {"setup": "sma-cross", "symbol": "BTC/USDT", "start": "2023-03-01",
         "end": "2023-03-02", "min_trades": 1}


@pytest.fixture()
def demo(ita_home):
    run_demo()
    return ita_home


def test_job_objectives_are_the_optimisers() -> None:
    assert kinds.OBJECTIVES == OBJECTIVES


def test_a_bad_objective_or_range_is_refused_at_submit(demo) -> None:
    bus = JobBus.from_settings()
    with pytest.raises(JobError, match="job parameter objective: 'sharp' is not an objective"):
        bus.submit("optimise", {"setup": "sma-cross", "objective": "sharp"})
    with pytest.raises(JobError, match="job parameter ranges.conditions.cross.fast"):
        bus.submit("sweep", {"setup": "sma-cross", "ranges": {
            "conditions.cross.fast": {"low": 20, "high": 5, "step": 5}}})


def test_ranges_whose_low_end_is_invalid_alone_are_accepted(demo) -> None:
    """fast 20 / slow 60 with slow from 20: slow = 20 with fast = 20 is one invalid variant
    (pruned by the search), not a reason to refuse the whole run."""
    setup = SetupStore.from_settings().load("sma-cross").setup
    setup = with_ranges(setup, None).model_copy(deep=True)
    setup.conditions["cross"].fast = 20
    changed = with_ranges(setup, {"conditions.cross.slow": {"low": 20, "high": 60, "step": 10}})
    assert list(changed.optimise) == ["conditions.cross.slow"]


def test_ranges_for_one_run_name_a_missing_path_and_leave_the_version(demo) -> None:
    setup = SetupStore.from_settings().load("sma-cross").setup
    changed = with_ranges(setup, {"plan.target.percent": {"low": 1, "high": 3, "step": 1}})
    assert list(changed.optimise) == ["plan.target.percent"]
    assert list(setup.optimise) == ["conditions.cross.fast", "conditions.cross.slow"]
    with pytest.raises(SetupError, match="conditions.cross.fats: no such parameter .* did you "
                                         "mean 'conditions.cross.fast'"):
        with_ranges(setup, {"conditions.cross.fats": {"low": 1, "high": 3, "step": 1}})


def test_an_optimise_job_run_again_resumes_its_study(demo) -> None:
    seen = []
    first = run_optimise(kinds.OptimiseParams(**SMALL, trials=3), lambda f, m: seen.append(m),
                         job_id="20230101T000000000000-optimise-aaaaaa")
    assert first["trials"] == 3 and seen[0] == "trial 1/3"
    seen.clear()
    again = run_optimise(kinds.OptimiseParams(**SMALL, trials=5), lambda f, m: seen.append(m),
                         job_id="20230101T000000000000-optimise-aaaaaa")
    assert again["trials"] == 5  # 3 held + 2 new, not 3 + 5
    assert seen and set(seen) <= {"trial 4/5", "trial 5/5"}  # (a pruned trial reports none)
    result = ResearchStore.from_settings().load("20230101T000000000000-optimise-aaaaaa")
    scored = sorted(result.frames["trials"]["trial"])  # a pruned trial had fast >= slow
    assert len(scored) == 5 - result.summary["invalid_trials"] and set(scored) <= set(range(5))
    assert result.summary["trials"] == 5 and result.summary["study"].startswith("job-")


def test_a_sweep_job_written_again_replaces_its_folder(demo) -> None:
    params = kinds.SweepParams(**SMALL, workers=1, ranges={
        "conditions.cross.fast": {"low": 5, "high": 10, "step": 5},
        "conditions.cross.slow": {"low": 30, "high": 30, "step": 10}})
    job = "20230101T000000000000-sweep-bbbbbb"
    run_sweep(params, lambda f, m: None, job_id=job)
    run_sweep(params, lambda f, m: None, job_id=job)
    store = ResearchStore.from_settings()
    assert store.ids() == [job]
    assert [p.name for p in store.root.iterdir()] == [job]  # no temporaries left
    table = store.load(job).frames["trials"]
    assert sorted(table["conditions.cross.fast"]) == [5, 10]
