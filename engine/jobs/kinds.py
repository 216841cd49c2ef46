"""Job kinds: each validates its parameters and calls the same engine function as the CLI.

A kind is `requeue`-able when running it again gives the same answer (or resumes it): the
daemon then re-queues it once if it stopped while the job ran (see `engine.jobs.daemon`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import JobError, SetupError
from engine.setups.schema import ParamRange


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _checked_setup_ref(cls, value: str) -> str:
    from engine.setups.store import split_ref

    try:
        split_ref(value)
    except SetupError as error:
        raise ValueError(str(error)) from None
    return value


def _checked_objective(cls, value: str) -> str:
    if value not in OBJECTIVES:
        raise ValueError(f"{value!r} is not an objective; use one of {', '.join(OBJECTIVES)}")
    return value


class BacktestParams(_Params):
    setup: str = Field(description="Setup id or id@version")
    symbol: str | None = None
    start: str | None = None
    end: str | None = None
    fee_bps: float | None = Field(None, ge=0)
    slippage_bps: float | None = Field(None, ge=0)
    sizing: Literal["risk_percent", "fixed_size", "fixed_cash"] = Field(
        "risk_percent", description="risk_percent | fixed_size | fixed_cash")
    size: float | None = Field(None, gt=0)
    initial_equity: float = Field(10_000.0, gt=0)

    _safe_setup_ref = field_validator("setup")(_checked_setup_ref)


class SyncParams(_Params):
    dry_run: bool = Field(False, description="Show what would change; change nothing")
    resync: bool = Field(False, description="Compare both sides in full, keep every file")
    force: bool = Field(False, description="Allow deleting more than sync_max_delete percent")


# engine.backtest.optimise.OBJECTIVES (a test keeps them equal); importing it here would load
# Optuna into every process that submits a job
OBJECTIVES = ("expectancy_r", "profit_factor", "sharpe", "sqn", "total_return_pct")


class _SearchParams(_Params):
    setup: str = Field(description="Setup id or id@version")
    symbol: str | None = None
    start: str | None = None
    end: str | None = None
    objective: str = Field("expectancy_r", description="The metric the search maximises")
    min_trades: int = Field(10, ge=0, description="Fewer trades than this scores nothing")
    ranges: dict[str, ParamRange] | None = Field(
        None, description="Replace the setup's `optimise:` ranges for this run only")
    scheduler: str | None = Field(
        None, max_length=300, description="Run on Dask: 'local' (this machine's cores) or "
                                          "tcp://HOST:8786; none: the setting "
                                          "ITA_DASK_SCHEDULER, else in the job's process")

    _safe_setup_ref = field_validator("setup")(_checked_setup_ref)

    _known_objective = field_validator("objective")(_checked_objective)


class OptimiseParams(_SearchParams):
    trials: int = Field(50, ge=1, le=100_000, description="Optuna trials")


class SweepParams(_SearchParams):
    workers: int | None = Field(None, ge=1, le=256, description="Processes (None: every core)")


class WalkforwardParams(_SearchParams):
    min_trades: int = Field(5, ge=0, description="Fewer trades than this scores nothing")
    train_bars: int = Field(2000, ge=1, description="Bars per train window")
    test_bars: int = Field(500, ge=1, description="Bars per test window")
    anchored: bool = Field(False, description="Train windows grow from the first bar")
    trials: int = Field(30, ge=1, le=100_000, description="Optuna trials per train window")


class GridParams(_Params):
    setups: list[str] = Field(min_length=1, max_length=100,
                              description="Setup ids or id@version, each swept over its "
                                          "stepped `optimise:` ranges")
    symbols: list[str] | None = Field(None, max_length=500,
                                      description="Symbols (default: each setup's own)")
    start: str | None = None
    end: str | None = None
    windows: int = Field(1, ge=1, le=100, description="Consecutive windows of each symbol's "
                                                      "range, each swept on its own")
    objective: str = Field("expectancy_r", description="The metric variants are ranked by")
    min_trades: int = Field(10, ge=0, description="Fewer trades than this scores nothing")
    scheduler: str | None = Field(None, max_length=300,
                                  description="Dask scheduler tcp://HOST:8786 (default: "
                                              "ITA_DASK_SCHEDULER, else this machine)")
    workers: int | None = Field(None, ge=1, le=256,
                                description="Workers of a local cluster (None: every core)")

    @field_validator("setups")
    @classmethod
    def _safe_setup_refs(cls, values: list[str]) -> list[str]:
        return [_checked_setup_ref(cls, value) for value in values]

    _known_objective = field_validator("objective")(_checked_objective)


class SelftestParams(_Params):
    seconds: float = Field(1.0, ge=0, le=3600, description="How long the check runs")


class KbIngestParams(_Params):
    paths: list[str] = Field(
        default_factory=list, max_length=10_000,
        description="Files or folders to add as theory (uploads saved by the app); empty: only "
                    "index what is already in the shared folder")
    analyst: str | None = Field(None, description="Who adds them (default: ITA_ANALYST)")
    tags: list[str] = Field(default_factory=list, max_length=50,
                            description="Tags for every added file")


class KbRebuildParams(_Params):
    pass


class LearnParams(_Params):
    setup: str = Field(description="Setup id or id@version")
    symbol: str | None = Field(None, description="One symbol (default: every symbol of the "
                                                 "setup, pooled)")
    start: str | None = None
    end: str | None = None
    folds: int = Field(5, ge=2, le=20, description="Walk-forward folds")
    trees: int = Field(200, ge=1, le=5000, description="Boosted trees")
    seed: int = Field(0, ge=0, description="Random seed (the same seed: the same model)")

    _safe_setup_ref = field_validator("setup")(_checked_setup_ref)


class PaperReplayParams(_Params):
    account: str = Field(description="Paper account name")
    setup: str | None = Field(None, description="Setup id (default: each setup it follows)")
    start: str | None = Field(None, description="First day, e.g. 2023-03-01")
    end: str | None = Field(None, description="Day after the last (exclusive)")
    chunk: int = Field(96, ge=1, le=100_000, description="Bars fed per step")

    _safe_setup_ref = field_validator("setup")(
        lambda cls, value: value if value is None else _checked_setup_ref(cls, value))


def _backtest(params: BacktestParams, progress, *, job_id: str) -> dict:
    from engine.backtest.run import run_backtest
    from engine.backtest.simulate import Costs, Sizing
    from engine.setups.store import SetupStore

    setup = SetupStore.from_settings().load(params.setup).setup
    costs = Costs(params.fee_bps if params.fee_bps is not None else setup.costs.fee_bps,
                  params.slippage_bps if params.slippage_bps is not None
                  else setup.costs.slippage_bps)
    sizing = Sizing(params.sizing, params.size or setup.risk.percent)
    result = run_backtest(params.setup, symbol=params.symbol, start=params.start,
                          end=params.end, costs=costs, sizing=sizing,
                          initial_equity=params.initial_equity, progress=progress)
    return {"run_id": result.run_id}


def _selftest(params: SelftestParams, progress, *, job_id: str) -> dict:
    """A diagnostic job: ticks for `seconds`, reporting progress (used to check the daemon)."""
    steps = max(1, int(params.seconds * 10))
    for i in range(steps):
        time.sleep(params.seconds / steps)
        progress((i + 1) / steps, f"step {i + 1}/{steps}")
    return {"slept": params.seconds}


def _sync(params: SyncParams, progress, *, job_id: str) -> dict:
    """The shared folder's sync (the Knowledge page's button); waits for a periodic sync that
    is running. A sync that ends in error is a failed job with the status' message."""
    from engine.kb.sync import sync_and_refresh
    from engine.settings import get_settings

    report, refreshed = sync_and_refresh(get_settings(), dry_run=params.dry_run,
                                         resync=params.resync, force=params.force,
                                         wait_seconds=600.0, progress=progress)
    if not report.ok:
        raise JobError(f"sync {report.state.replace('_', ' ')}: {report.message}")
    return report.to_dict() | {"index_refreshed": refreshed is not None}


def _learn(params: LearnParams, progress, *, job_id: str) -> dict:
    """Dataset, walk-forward evaluation, training, registry, champion or challenger
    (`engine.learn.ops.learn`, the same as `ita learn train`)."""
    from engine.learn.ops import learn
    from engine.settings import get_settings

    return learn(get_settings(), params.setup, symbol=params.symbol, start=params.start,
                 end=params.end, folds=params.folds, trees=params.trees, seed=params.seed,
                 progress=progress).to_dict()


class NotionReportParams(_Params):
    run_id: str | None = Field(None, description="A run's id (or a setup with start and end)")
    setup: str | None = Field(None, description="Setup id or id@version over a period")
    start: str | None = Field(None, description="The period's first moment (ISO, UTC)")
    end: str | None = Field(None, description="The period's end, excluded (ISO, UTC)")
    sample: int = Field(5, ge=0, le=100, description="Trades in the random-sample check")
    seed: int = Field(0, description="Seed of the draw")


def _notion_report(params: NotionReportParams, progress, *, job_id: str) -> dict:
    """The backtest report as a Notion page (`ita notion report`, the Runs page's button)."""
    from engine.adapters.notion.backtest_report import build_report, publish_backtest_report
    from engine.adapters.notion.config import notion_settings
    from engine.settings import get_settings

    settings = get_settings()
    progress(0.1, "drawing the report")
    report = build_report(settings, run_id=params.run_id, setup=params.setup,
                          start=params.start, end=params.end, sample=params.sample,
                          seed=params.seed)
    progress(0.4, "sending to Notion")
    page_id = publish_backtest_report(settings.home, notion_settings(), report)
    return {"page_id": page_id, "title": report.title}


def _paper_replay(params: PaperReplayParams, progress, *, job_id: str) -> dict:
    """Does paper match the backtest over a range? The account's settings run over the stored
    history in a scratch ledger (`engine.paper.follow.replay`, as `ita paper replay` runs
    it), next to the backtest of the same signals, per setup. The account's own ledger is not
    touched: the check starts fresh, as the backtest does."""
    import shutil
    import tempfile

    from engine.adapters.store import CandleStore
    from engine.errors import DataError
    from engine.live.journal import journal_path
    from engine.paper.account import AccountStore
    from engine.paper.follow import replay
    from engine.settings import get_settings
    from engine.setups.store import SetupStore

    settings = get_settings()
    account = AccountStore(settings.home).load(params.account)
    setups = [params.setup] if params.setup else account.follow
    if not setups:
        raise DataError(f"paper account {params.account!r} follows no setup")
    results = []
    with tempfile.TemporaryDirectory(prefix="ita-paper-replay-") as scratch:
        AccountStore(scratch).save(account)
        if journal_path(settings.home).exists():  # "taken" accounts read the trader's marks
            journal_path(scratch).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(journal_path(settings.home), journal_path(scratch))
        for number, ref in enumerate(setups):
            progress(number / len(setups), f"replaying {ref}")
            done = replay(scratch, params.account, ref, start=params.start, end=params.end,
                          chunk_bars=params.chunk, candle_store=CandleStore.from_settings(),
                          setup_store=SetupStore.from_settings())
            results.append(_replay_summary(done) | _refused(scratch, done, params))
    return {"account": params.account, "setups": results,
            "same": all(r["same"] for r in results)}


def _refused(home, done, params: PaperReplayParams) -> dict:
    """The signals of the replayed range the account's limits refused (a reason why paper
    differs from the backtest: the backtest knows no account limits)."""
    from engine.paper.ledger import Ledger, iso, ledger_path

    with Ledger(ledger_path(home)) as ledger:
        orders = ledger.rows("orders", params.account)
    refused = orders[(orders["kind"] == "refused") & (orders["setup_id"] == done.setup)
                     & (orders["symbol"] == done.symbol)]
    if params.start:
        refused = refused[refused["at"] >= iso(params.start)]
    if params.end:
        refused = refused[refused["at"] < iso(params.end)]
    reasons = refused["reason"].value_counts()
    return {"refused": len(refused),
            "refused_reasons": [[str(r), int(n)] for r, n in reasons.head(5).items()]}


def _replay_summary(done) -> dict:
    """What the page shows of one `engine.paper.follow.Replay`: trades closed by the rules on
    each side, their money and mean R, and whether they are the same trades."""
    closed = done.paper[done.paper["status"] == "closed"] if len(done.paper) else done.paper
    rules = done.backtest[done.backtest["exit_reason"] != "end"]

    def mean_r(frame) -> float | None:
        return float(frame["r_net"].mean()) if len(frame) else None

    return {"setup": done.setup, "symbol": done.symbol, "bars": done.bars,
            "signals": done.signals, "paper_trades": len(closed),
            "paper_pnl": float(closed["pnl"].sum()) if len(closed) else 0.0,
            "paper_expectancy_r": mean_r(closed), "backtest_trades": len(rules),
            "backtest_pnl": float(rules["pnl"].sum()) if len(rules) else 0.0,
            "backtest_expectancy_r": mean_r(rules), "same": bool(done.same),
            "alone": bool(done.alone)}


@dataclasses.dataclass(frozen=True)
class Kind:
    params: type[_Params]
    run: Callable  # run(params, progress, *, job_id) -> result dict (JSON)
    requeue: bool = False  # run again once if the daemon stopped while it ran

    def validate(self, params: dict) -> _Params:
        try:
            return self.params.model_validate(params)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise JobError(f"job parameter {field}: {message}") from None


def _optimise(params: OptimiseParams, progress, *, job_id: str) -> dict:
    from engine.backtest.research import run_optimise

    return run_optimise(params, progress, job_id=job_id)


def _sweep(params: SweepParams, progress, *, job_id: str) -> dict:
    from engine.backtest.research import run_sweep

    return run_sweep(params, progress, job_id=job_id)


def _walkforward(params: WalkforwardParams, progress, *, job_id: str) -> dict:
    from engine.backtest.research import run_walkforward

    return run_walkforward(params, progress, job_id=job_id)


def _grid(params: GridParams, progress, *, job_id: str) -> dict:
    from engine.backtest.research import run_grid

    return run_grid(params, progress, job_id=job_id)


def _kb_ingest(params: KbIngestParams, progress, *, job_id: str) -> dict:
    from pathlib import Path

    from engine.kb.index import KnowledgeIndex
    from engine.kb.ingest import add_files
    from engine.settings import get_settings

    settings = get_settings()
    if not params.paths:
        return _refresh_result(KnowledgeIndex(settings).refresh(progress=progress))
    report = add_files(settings, [Path(p) for p in params.paths], analyst=params.analyst,
                       tags=params.tags, progress=progress)
    return {"files": [dataclasses.asdict(result) for result in report.files],
            "failed": len(report.failed), **_refresh_result(report.refresh)}


def _kb_rebuild(params: KbRebuildParams, progress, *, job_id: str) -> dict:
    from engine.kb.index import KnowledgeIndex
    from engine.settings import get_settings

    return _refresh_result(KnowledgeIndex(get_settings()).rebuild(progress=progress))


def _refresh_result(report) -> dict:
    return {"added": list(report.added), "updated": list(report.updated),
            "removed": list(report.removed), "unchanged": report.unchanged,
            "index_failed": [list(pair) for pair in report.failed],
            "warnings": [list(pair) for pair in report.warnings], "chunks": report.chunks,
            "seconds": round(report.seconds, 2)}


KINDS = {"backtest": Kind(BacktestParams, _backtest, requeue=True),
         "sync": Kind(SyncParams, _sync, requeue=True),  # a second run finds nothing to do
         "optimise": Kind(OptimiseParams, _optimise, requeue=True),
         "sweep": Kind(SweepParams, _sweep, requeue=True),
         "walkforward": Kind(WalkforwardParams, _walkforward, requeue=True),
         "grid": Kind(GridParams, _grid, requeue=True),  # a second run replaces its folder
         "kb_ingest": Kind(KbIngestParams, _kb_ingest, requeue=True),  # idempotent
         "kb_rebuild": Kind(KbRebuildParams, _kb_rebuild, requeue=True),
         "learn": Kind(LearnParams, _learn, requeue=True),  # the same inputs: the same model
         "notion_report": Kind(NotionReportParams, _notion_report, requeue=True),  # replaces
         "paper_replay": Kind(PaperReplayParams, _paper_replay, requeue=True),  # idempotent
         "selftest": Kind(SelftestParams, _selftest)}  # a diagnostic: reported, not re-run
