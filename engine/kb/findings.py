"""Findings: what a setup version's backtests showed, as a short markdown document in the
analyst's own folder of the shared base, ``shared_kb/analysts/<analyst>/findings/
<setup>-v<n>.md``, indexed like any document so the next question finds it.

`write_findings(settings, setup_id, version)` writes (atomically; replacing the previous
findings of that version) the idea, the theory it cites, a table of its runs (symbol,
timeframe, period, trades, expectancy R, win rate, profit factor), what worked where — the
best and worst run, and the trades of all its runs by session and by direction — and says
plainly when there is nothing to report (not backtested yet; no model trained yet), and the
version's learning verdict as the Learning page judges it (`engine.kb.verified.learning_verdict`).
Only numbers the runs computed are written.

`publish_findings` is the operation the CLI (`ita kb findings`) and the Setups page call:
write the findings, then refresh the local knowledge index, so the next search or question
finds them (and every other analyst's ITA indexes them after a sync). Findings are written when
the trader asks, not after every backtest: a run on the wrong period or with the wrong costs
would otherwise be published to every analyst at once; `findings_status` tells the page when
runs newer than the written findings exist.

>>> write_findings(settings, "london-asia-sweep-fvg", 3)  # doctest: +SKIP
PosixPath('.../shared_kb/analysts/anna/findings/london-asia-sweep-fvg-v3.md')
>>> publish_findings(settings, "london-asia-sweep-fvg", 3).source  # doctest: +SKIP
'analysts/anna/findings/london-asia-sweep-fvg-v3.md'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.adapters.runs import RunStore
from engine.backtest.metrics import breakdown
from engine.errors import ConfigurationError, KnowledgeError
from engine.ids import checked_id
from engine.kb.answer import document_title
from engine.kb.shared import write_analyst_file
from engine.kb.verified import RunNumbers, learning_verdict, run_summaries, runs_of
from engine.setups.store import SetupStore, SetupVersion

MIN_GROUP_TRADES = 5  # a session or side with fewer trades is not called good or bad


def findings_path(settings, setup_id: str, version: int) -> Path:
    analyst = checked_id(settings.analyst, what="analyst name (ITA_ANALYST)",
                         error=ConfigurationError)
    return (settings.shared_kb_dir / "analysts" / analyst / "findings"
            / f"{setup_id}-v{version}.md")


def write_findings(settings, setup_id: str, version: int | None = None) -> Path:
    """Write the findings of `setup_id` at `version` (default: the active one); the path."""
    found = SetupStore.from_settings(settings).load(setup_id, version)
    runs = runs_of(run_summaries(settings), found.id, found.version)
    path = findings_path(settings, found.id, found.version)
    return write_analyst_file(settings, path.parent.parent.name, f"findings/{path.name}",
                              findings_markdown(settings, found, runs))


@dataclass(frozen=True)
class Published:
    """Findings written and indexed."""

    path: Path
    source: str  # the document key: ``analysts/<me>/findings/<setup>-v<n>.md``
    refresh: object  # the index refresh's `engine.kb.index.RefreshReport`


def publish_findings(settings, setup_id: str, version: int | None = None, *,
                     progress=None) -> Published:
    """Write the findings of `setup_id` at `version` (default: the active one) and index them
    (`KnowledgeIndex.refresh`: this file and whatever else changed in the shared folder).
    `progress(fraction, message)` follows the indexing."""
    from engine.kb.index import KnowledgeIndex

    path = write_findings(settings, setup_id, version)
    source = path.relative_to(settings.shared_kb_dir).as_posix()
    report = KnowledgeIndex(settings).refresh(progress=progress)
    for failed, message in report.failed:
        if failed == source:
            raise KnowledgeError(f"{source}: written but not indexed: {message}")
    return Published(path, source, report)


@dataclass(frozen=True)
class FindingsStatus:
    """Whether this analyst's findings of a setup version are written, and current."""

    path: Path
    source: str
    written_at: dt.datetime | None  # None: not written yet
    newer_runs: int  # runs of the version made after the findings were written


def findings_status(settings, setup_id: str, version: int,
                    runs: list[RunNumbers]) -> FindingsStatus:
    path = findings_path(settings, setup_id, version)
    source = path.relative_to(settings.shared_kb_dir).as_posix()
    try:
        written = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except FileNotFoundError:
        return FindingsStatus(path, source, None, len(runs))
    newer = sum(1 for run in runs if _created(run) > written)
    return FindingsStatus(path, source, written, newer)


def _created(run: RunNumbers) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(run.created_at)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def findings_markdown(settings, found: SetupVersion, runs: list[RunNumbers]) -> str:
    setup = found.setup
    now = dt.datetime.now(dt.UTC)
    lines = [f"# Findings: {setup.name} ({found.id} v{found.version})", "",
             f"Written by {settings.analyst} on {now:%Y-%m-%d %H:%M} UTC from {len(runs)} "
             f"backtest run{'s' if len(runs) != 1 else ''}. Tags: "
             f"{', '.join(setup.tags) or '—'}.", ""]
    if setup.description.strip():
        lines += ["## The idea", "", " ".join(setup.description.split()), ""]
    if setup.sources:
        lines += ["## The theory it formalises", ""]
        for cited in setup.sources:
            page = f", p. {cited.page}" if cited.page is not None else ""
            quote = f": “{cited.quote}”" if cited.quote else ""
            lines.append(f"- «{document_title(cited.source)}»{page}{quote} "
                         f"(`{cited.source}`)")
        lines.append("")
    lines += ["## Results", ""]
    if not runs:
        lines += ["Not backtested yet: run `ita backtest "
                  f"{found.id}@{found.version}` and write the findings again.", ""]
    else:
        lines += _runs_table(runs) + [""] + _what_worked(settings, runs)
    lines += [f"Learning: {learning_verdict(settings, found.id, found.version)}.", ""]
    return "\n".join(lines)


def _runs_table(runs: list[RunNumbers]) -> list[str]:
    rows = ["| symbol | timeframe | period | trades | expectancy | win rate | profit factor |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for run in runs:
        rows.append(f"| {run.symbol} | {run.timeframe} | {run.start[:10]} → {run.end[:10]} | "
                    f"{run.trades} | {_r(run.expectancy_r)} | {_pct(run.win_rate)} | "
                    f"{_num(run.profit_factor)} |")
    return rows


def _what_worked(settings, runs: list[RunNumbers]) -> list[str]:
    lines = ["## What worked, where", ""]
    measured = [r for r in runs if r.expectancy_r is not None]
    if measured:
        best = max(measured, key=lambda r: r.expectancy_r)
        worst = min(measured, key=lambda r: r.expectancy_r)
        lines.append(f"- Best run: {best.line()}.")
        if worst is not best:
            lines.append(f"- Worst run: {worst.line()}.")
    trades = _trades(settings, runs)
    for by, title in (("session", "By session"), ("direction", "By side")):
        if trades.empty or (by == "session" and "session" not in trades):
            continue
        table = breakdown(trades, by)
        parts = [f"{key}: {int(row.trades)} trades, {_r(row.avg_r)} avg, "
                 f"{_pct(row.win_rate)} won" for key, row in table.iterrows()]
        lines.append(f"- {title} (all runs' trades): " + "; ".join(parts) + ".")
        good = table[(table.trades >= MIN_GROUP_TRADES) & (table.avg_r > 0)]
        if len(good) and len(good) < len(table):
            lines.append(f"  Worked in: {', '.join(map(str, good.index))}.")
    return lines + [""]


def _trades(settings, runs: list[RunNumbers]) -> pd.DataFrame:
    store = RunStore.from_settings(settings)
    frames = []
    for run in runs:
        path = store.root / run.run_id / "trades.parquet"
        if path.exists():
            frames.append(pd.read_parquet(path))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _r(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:+.2f} R"


def _pct(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.0%}"


def _num(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.2f}"
