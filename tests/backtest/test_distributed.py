"""Sweeps, studies, walk-forward and grids on a real 2-worker `LocalCluster` (127.0.0.1 only)
equal what this process computes alone."""

from __future__ import annotations

import time

import optuna
import pandas as pd
import pytest

from engine.backtest import distributed
from engine.backtest.distributed import Cancelled, GridCell, connect, grid, grid_cells
from engine.backtest.lean import LeanRunner, LeanSpec, prepared_count
from engine.backtest.optimise import optimise, sweep, sweep_variants
from engine.backtest.simulate import Costs, Sizing
from engine.backtest.walkforward import walkforward
from engine.errors import ConfigurationError
from tests.backtest.test_lean import GRID, _sma, _synthetic

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed")


@pytest.fixture(scope="module")
def client():
    with connect("local", workers=2) as client:
        yield client


@pytest.fixture()
def always(monkeypatch):
    """Every sweep goes to the cluster, however small."""
    monkeypatch.setattr(distributed, "DASK_FROM", 0)


def _spec(setup, candles) -> LeanSpec:
    return LeanSpec(setup, candles, "BTC/USDT", "expectancy_r", 3,
                    Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
                    Sizing("risk_percent", setup.risk.percent))


def test_the_local_cluster_listens_on_127_0_0_1_only_with_no_dashboard(client) -> None:
    info = client.scheduler_info(n_workers=-1)
    assert info["address"].startswith("tcp://127.0.0.1:")
    assert len(info["workers"]) == 2
    assert all(address.startswith("tcp://127.0.0.1:") for address in info["workers"])
    assert info["services"].get("dashboard") != 8787  # its health check: a free port
    import psutil

    me = psutil.Process()
    listening = [c.laddr for p in [me, *me.children(recursive=True)]
                 for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 3 and {address.ip for address in listening} == {"127.0.0.1"}


def test_the_local_workers_keep_the_allocators_adaptive_defaults(client) -> None:
    # Dask's default MALLOC_TRIM_THRESHOLD_ made every variant cost ~1.5x the CPU
    import os

    assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}


def test_a_scheduler_that_is_not_an_address_is_refused_with_the_form_to_use() -> None:
    with pytest.raises(ConfigurationError, match="tcp://HOST:8786"), connect("myhost:8786"):
        pass


def test_the_distributed_sweep_equals_the_local_one_row_for_row(client, always) -> None:
    setup, candles = _sma("market"), _synthetic(6_000)
    here = sweep(setup, candles, symbol="BTC/USDT", values=GRID, min_trades=3, workers=1)
    seen = []
    there = sweep(setup, candles, symbol="BTC/USDT", values=GRID, min_trades=3,
                  client=client, progress=lambda f, m: seen.append(f))
    pd.testing.assert_frame_equal(there, here)
    assert len(there) == 12 and seen[-1] == 1.0 and seen == sorted(seen)


def _nudged(candles: pd.DataFrame, bar: int) -> pd.DataFrame:
    """`candles` with every price from `bar` on 2 % higher (a gap: still valid candles)."""
    changed = candles.copy(deep=True)
    changed.iloc[bar:, :4] *= 1.02
    return changed


def test_a_second_sweep_on_the_same_candles_ships_only_its_variants(client, always,
                                                                     monkeypatch) -> None:
    setup, candles = _sma("market"), _synthetic(5_000, seed=11)
    distributed.forget_shipped(client)
    shipped = []
    scatter = client.scatter
    monkeypatch.setattr(client, "scatter",
                        lambda data, **options: shipped.append(data) or scatter(data, **options))

    def swept(frame: pd.DataFrame) -> pd.DataFrame:
        return sweep(setup, frame, symbol="BTC/USDT", values=GRID, min_trades=1, client=client)

    def prepared_since(before: dict) -> list[int]:  # series each worker prepared since
        return [n - before[worker] for worker, n in client.run(prepared_count).items()]

    before = client.run(prepared_count)
    first = swept(candles)
    again = swept(candles.copy(deep=True))  # another frame with the same candles
    assert len(shipped) == 1  # not shipped again
    assert 1 <= sum(prepared_since(before)) and max(prepared_since(before)) == 1  # kept
    pd.testing.assert_frame_equal(again, first)
    before = client.run(prepared_count)
    changed = _nudged(candles, 2_500)
    third = swept(changed)
    assert len(shipped) == 2 and shipped[-1] is changed  # changed candles: shipped afresh
    assert 1 <= sum(prepared_since(before)) and max(prepared_since(before)) == 1
    here = sweep(setup, changed, symbol="BTC/USDT", values=GRID, min_trades=1, workers=1)
    pd.testing.assert_frame_equal(third, here)
    assert not third.equals(first)


def test_a_small_sweep_stays_in_this_process(client, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a small sweep went to the cluster")

    monkeypatch.setattr(distributed, "run_variants", refuse)
    table = sweep(_sma("market"), _synthetic(2_000), symbol="BTC/USDT", values=GRID,
                  min_trades=3, client=client)
    assert len(table) == 12


def test_an_optuna_study_on_two_workers_is_one_stored_study_of_every_trial(client,
                                                                          tmp_path) -> None:
    setup, candles = _sma("market"), _synthetic(6_000)
    result = optimise(setup, candles, symbol="BTC/USDT", n_trials=16, min_trades=3,
                      storage_dir=tmp_path, study_name="spread", client=client)
    study = optuna.load_study(study_name="spread", storage=f"sqlite:///{tmp_path}/spread.db")
    states = {t.state for t in study.trials}
    assert len(study.trials) == 16 and states <= {optuna.trial.TrialState.COMPLETE,
                                                  optuna.trial.TrialState.PRUNED}
    assert len(result.trials) == 16
    runner = LeanRunner(_spec(setup, candles))
    from engine.setups import apply_parameters

    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.COMPLETE and "repeat_of" not in trial.user_attrs:
            value, metrics = runner.evaluate(apply_parameters(setup, trial.params))
            assert trial.user_attrs["trades"] == metrics["trades"]
            assert trial.value == (value if value != float("-inf") else -1e12)
    again = optimise(setup, candles, symbol="BTC/USDT", n_trials=4, min_trades=3,
                     storage_dir=tmp_path, study_name="spread", client=client)
    assert again.resumed_trials == 16 and len(again.trials) == 20


def test_cancelling_cancels_the_jobs_futures_on_the_cluster(client) -> None:
    setup, candles = _sma("market"), _synthetic(20_000)
    values = {"conditions.cross.fast": list(range(3, 23)),
              "conditions.cross.slow": list(range(30, 90, 3))}
    variants = sweep_variants(setup, values)
    finished = []
    with pytest.raises(Cancelled, match="cancelled after"):
        distributed.run_variants(client, _spec(setup, candles), variants,
                                 progress=lambda f, m: finished.append(f),
                                 cancelled=lambda: True)
    assert len(finished) == 1  # the first chunk came back, then the job stopped
    distributed.forget_shipped(client)  # the candles kept for later sweeps: released too
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and client.run_on_scheduler(_tasks):
        time.sleep(0.05)
    assert client.run_on_scheduler(_tasks) == 0  # nothing of the job is left on the cluster


def _tasks(dask_scheduler) -> int:
    return len(dask_scheduler.tasks)


def test_a_grid_of_two_symbols_by_two_setups_is_one_job_equal_to_its_sweeps(client) -> None:
    setups = [_sma("market"), _sma("partial, time exit")]
    setups[1] = setups[1].model_copy(update={"id": "sma-partial"})
    candles = {"AAA/USDT": _synthetic(5_000, seed=1), "BBB/USDT": _synthetic(5_000, seed=2)}
    cells = [GridCell(c.setup, c.symbol, c.candles, c.window, GRID)
             for c in grid_cells(setups, candles)]
    seen = []
    table = grid(client, cells, min_trades=3, progress=lambda f, m: seen.append((f, m)))
    assert len(table) == 4 * 12 and seen[-1][0] == 1.0 and seen[-1][1] == "variant 48/48"
    for setup in setups:
        for symbol, frame in candles.items():
            here = sweep(setup, frame, symbol=symbol, values=GRID, min_trades=3, workers=1)
            part = table[(table["setup"] == setup.id) & (table["symbol"] == symbol)]
            pd.testing.assert_frame_equal(
                part.drop(columns=["setup", "symbol", "window"]).reset_index(drop=True), here)


def test_grid_cells_cut_each_symbol_into_consecutive_windows() -> None:
    frame = _synthetic(1_000)
    cells = grid_cells([_sma("market")], {"AAA/USDT": frame}, windows=3)
    assert [c.window for c in cells] == ["w0", "w1", "w2"]
    assert pd.concat([c.candles for c in cells]).index.equals(frame.index)


def test_walkforward_on_the_cluster_equals_walkforward_here(client) -> None:
    setup, candles = _sma("market"), _synthetic(6_000)
    kwargs = {"symbol": "BTC/USDT", "train_bars": 2_000, "test_bars": 1_000, "n_trials": 6,
              "min_trades": 2}
    here = walkforward(setup, candles, **kwargs)
    there = walkforward(setup, candles, client=client, **kwargs)
    pd.testing.assert_frame_equal(there.windows, here.windows)
    pd.testing.assert_frame_equal(there.out_of_sample_trades, here.out_of_sample_trades)
    assert there.out_of_sample == here.out_of_sample


def test_ita_sweep_on_a_scheduler_from_the_setting_prints_the_local_table(client, always,
                                                                          ita_home,
                                                                          monkeypatch) -> None:
    from typer.testing import CliRunner

    from engine.cli import app
    from engine.demo import run_demo

    run_demo()
    args = ["sweep", "sma-cross", "--to", "2023-03-04", "--min-trades", "1", "--workers", "1"]
    here = CliRunner().invoke(app, args)
    assert here.exit_code == 0, here.output
    address = client.scheduler.address
    monkeypatch.setenv("ITA_DASK_SCHEDULER", address)
    there = CliRunner().invoke(app, args)
    assert there.exit_code == 0, there.output
    assert there.output.startswith("Dask: 2 workers on this machine\n")
    assert there.output.split("\n", 1)[1] == here.output


def test_a_sweep_job_on_a_scheduler_writes_the_table_of_the_job_run_here(client, always,
                                                                        ita_home) -> None:
    from engine.backtest.research import ResearchStore, run_sweep
    from engine.demo import run_demo
    from engine.jobs import kinds

    run_demo()
    small = {"setup": "sma-cross", "symbol": "BTC/USDT", "start": "2023-03-01",
             "end": "2023-03-03", "min_trades": 1, "workers": 1,
             "ranges": {"conditions.cross.fast": {"low": 5, "high": 15, "step": 5},
                        "conditions.cross.slow": {"low": 30, "high": 60, "step": 10}}}
    seen = []
    run_sweep(kinds.SweepParams(**small), lambda f, m: None,
              job_id="20230101T000000000000-sweep-here00")
    run_sweep(kinds.SweepParams(**small, scheduler=client.scheduler.address),
              lambda f, m: seen.append(m), job_id="20230101T000000000000-sweep-there0")
    store = ResearchStore.from_settings()
    here = store.load("20230101T000000000000-sweep-here00").frames["trials"]
    there = store.load("20230101T000000000000-sweep-there0").frames["trials"]
    pd.testing.assert_frame_equal(there, here)
    assert seen[-1] == "variant 12/12"


def test_a_grid_job_sweeps_every_setup_and_window_and_ita_grid_prints_it(client, ita_home,
                                                                       monkeypatch) -> None:
    from typer.testing import CliRunner

    from engine.backtest.research import ResearchStore, run_grid
    from engine.cli import app
    from engine.demo import run_demo
    from engine.jobs import kinds
    from engine.settings import get_settings

    run_demo()
    monkeypatch.setenv("ITA_DASK_SCHEDULER", client.scheduler.address)
    params = kinds.GridParams(setups=["sma-cross"], start="2023-03-01", end="2023-03-03",
                              windows=2, min_trades=1)
    seen = []
    done = run_grid(params, lambda f, m: seen.append(f), job_id="20230101T000000000000-grid-aaaaaa")
    table = ResearchStore(get_settings().runs_dir / "grids").load(
        "20230101T000000000000-grid-aaaaaa").frames["trials"]
    assert done["cells"] == 2 and list(table["window"].unique()) == ["w0", "w1"]
    assert len(table) == done["variants"] and seen[-1] == 1.0
    with pytest.raises(Exception, match="is not an objective"):
        kinds.GridParams(setups=["sma-cross"], objective="profit")
    shown = CliRunner().invoke(app, ["grid", "sma-cross", "--from", "2023-03-01", "--to",
                                     "2023-03-03", "--min-trades", "1", "--top", "1"])
    assert shown.exit_code == 0, shown.output
    assert f"{len(table) // 2:,} variants in 1 cell:" in shown.output


def test_the_candles_kept_on_a_cluster_are_released_with_its_client(always) -> None:
    setup, candles = _sma("market"), _synthetic(2_000, seed=13)
    with connect("local", workers=1) as client:
        sweep(setup, candles, symbol="BTC/USDT", values=GRID, min_trades=1, client=client)
        assert [key for key in distributed._SHIPPED if key[0] == client.id]
    assert not [key for key in distributed._SHIPPED if key[0] == client.id]
