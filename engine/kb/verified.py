"""Knowledge verified by backtests: which setups formalise a passage, and how they did.

A setup version cites the passages it formalises in ``sources:`` (see
`engine.setups.schema.Source`). `results_for_source(settings, source, page)` finds every
setup version citing that document (and page) and puts its backtest runs beside it, read from
``runs/<run-id>/summary.json``: symbol, timeframe, period, trades, expectancy (R, net), win
rate, profit factor. So the Knowledge page and `ita kb ask` can say "this rule from
«smc-book», p. 42, as setup london-asia-sweep-fvg v3: 212 trades, +0.31 R".

`theory_of(settings, setup_id, version)` is the other direction, for the Setups page: the
passages one setup version cites (title, page, quote; a document no longer in the shared folder
is marked missing, never hidden) with that version's runs.

Each result also quotes the version's learning verdict (`learning_verdict`): the model the
Learning page judges the version by (your champion, else your newest model of it; a small setup's
may be a pooled model) with its walk-forward AUC, interval and signal count, or "no model
trained yet for this version". It is read from the model registry; nothing is ever trained here.

>>> for found in results_for_source(settings, "theory/smc-book--1a2b3c4d.pdf", page=42):
...     print(found.line())  # doctest: +SKIP
this rule from «smc-book», p. 42, as setup london-asia-sweep-fvg v3: 212 trades, +0.31 R
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from engine.adapters.runs import RunStore
from engine.errors import SetupError
from engine.kb.answer import document_title
from engine.kb.shared import _read_manifest
from engine.setups.schema import Source
from engine.setups.store import SetupStore

NO_MODEL = "no model trained yet for this version"


@dataclass(frozen=True)
class RunNumbers:
    """One backtest run of a setup version, in the numbers a trader compares."""

    run_id: str
    symbol: str
    timeframe: str
    start: str  # first bar, UTC
    end: str  # last bar, UTC
    trades: int
    expectancy_r: float | None  # net R per R risked (None: no trade closed by the rules)
    win_rate: float | None
    profit_factor: float | None
    created_at: str

    @classmethod
    def from_summary(cls, summary: dict) -> RunNumbers:
        metrics = summary.get("metrics") or {}
        return cls(str(summary.get("run_id")), str(summary.get("symbol")),
                   str(summary.get("timeframe")), str(summary.get("data_start")),
                   str(summary.get("data_end")), int(metrics.get("trades") or 0),
                   metrics.get("expectancy_r"), metrics.get("win_rate"),
                   metrics.get("profit_factor"), str(summary.get("created_at")))

    def line(self) -> str:
        """``BTC/USDT 5m 2023-03-01→2023-03-21: 212 trades, +0.31 R, 46% won, PF 1.4``."""
        parts = [f"{self.trades} trades"]
        if self.expectancy_r is not None:
            parts.append(f"{self.expectancy_r:+.2f} R")
        if self.win_rate is not None:
            parts.append(f"{self.win_rate:.0%} won")
        if self.profit_factor is not None:
            parts.append(f"PF {self.profit_factor:.2f}")
        return (f"{self.symbol} {self.timeframe} {self.start[:10]}→{self.end[:10]}: "
                + ", ".join(parts))

    def measured(self) -> str:
        """``212 trades, +0.31 R, win 48 %, PF 1.40, BTC/USDT 5m, 1–21 Mar 2023``."""
        parts = [f"{self.trades} trade{'s' if self.trades != 1 else ''}"]
        if self.expectancy_r is not None:
            parts.append(f"{self.expectancy_r:+.2f} R")
        if self.win_rate is not None:
            parts.append(f"win {self.win_rate:.0%}".replace("%", " %"))
        if self.profit_factor is not None:
            parts.append(f"PF {self.profit_factor:.2f}")
        parts += [f"{self.symbol} {self.timeframe}", period_words(self.start, self.end)]
        return ", ".join(parts)


def period_words(start: str, end: str) -> str:
    """A run's period as a trader says it.

    >>> period_words("2023-03-01 00:00:00+00:00", "2023-03-21 23:55:00+00:00")
    '1–21 Mar 2023'
    >>> period_words("2023-02-27 00:00:00+00:00", "2023-03-02 00:00:00+00:00")
    '27 Feb – 2 Mar 2023'
    >>> period_words("2022-12-30", "2023-01-02")
    '30 Dec 2022 – 2 Jan 2023'
    """
    try:
        first, last = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
    except ValueError:
        return f"{start[:10]} – {end[:10]}"
    if first.date() == last.date():
        return f"{first.day} {first:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"


@dataclass(frozen=True)
class Verified:
    """A setup version citing the passage, with its runs (newest first)."""

    setup_id: str
    version: int
    setup_name: str
    citation: Source
    runs: list[RunNumbers]
    learning: str = NO_MODEL
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One sentence: the rule, where it comes from, what its latest run measured."""
        page = f", p. {self.citation.page}" if self.citation.page is not None else ""
        head = (f"this rule from «{document_title(self.citation.source)}»{page}, as setup "
                f"{self.setup_id} v{self.version}")
        if not self.runs:
            return f"{head}: not backtested yet"
        latest = self.runs[0]
        r = f", {latest.expectancy_r:+.2f} R" if latest.expectancy_r is not None else ""
        return f"{head}: {latest.trades} trades{r} ({latest.symbol} {latest.timeframe})"


def run_summaries(settings) -> list[dict]:
    """Every run's summary, newest first (a run with an unreadable summary is skipped)."""
    store = RunStore.from_settings(settings)
    out = []
    for run_id in store.ids():
        try:
            out.append(json.loads((store.root / run_id / "summary.json").read_text("utf-8")))
        except (OSError, ValueError):
            continue
    return out


def runs_of(summaries: list[dict], setup_id: str, version: int) -> list[RunNumbers]:
    """The runs of one setup version, newest first."""
    return [RunNumbers.from_summary(s) for s in summaries
            if s.get("setup_id") == setup_id and s.get("setup_version") == version]


def _cites(citation: Source, source: str, page: int | None) -> bool:
    return citation.source == source and (page is None or citation.page == page)


def results_for_source(settings, source: str, page: int | None = None) -> list[Verified]:
    """Every setup version citing document `source` (on `page`, when given) with its runs;
    sorted by setup id, newest version first. A setup whose file no longer validates is
    skipped (the Setups page reports it)."""
    store = SetupStore.from_settings(settings)
    summaries = run_summaries(settings)
    found = []
    for setup_id in store.ids():
        try:
            versions = store.versions(setup_id)
        except SetupError:
            continue
        for version in reversed(versions):
            for citation in version.setup.sources:
                if _cites(citation, source, page):
                    found.append(Verified(setup_id, version.version, version.setup.name,
                                          citation, runs_of(summaries, setup_id,
                                                            version.version),
                                          learning_verdict(settings, setup_id,
                                                           version.version)))
                    break
    return found


@dataclass(frozen=True)
class CitedPassage:
    """One `sources:` entry of a setup version and whether its document is still in the base."""

    citation: Source
    title: str  # the manifest's title, else the file's name without ITA's ``--<sha8>``
    present: bool  # False: the document was removed from the shared folder (or never synced)


@dataclass(frozen=True)
class SetupTheory:
    """What the Setups page shows in a version's Theory section."""

    setup_id: str
    version: int
    setup_name: str
    passages: list[CitedPassage]
    runs: list[RunNumbers]  # this version's runs, newest first
    learning: str = NO_MODEL


def cited_document(settings, source: str) -> tuple[str, bool]:
    """(title, present) of a cited document key; the key was checked by the schema (a relative
    path inside the shared folder)."""
    path = settings.shared_kb_dir.joinpath(*source.split("/"))
    present = path.is_file()
    manifest = _read_manifest(path) if present and source.startswith("theory/") else None
    title = str((manifest or {}).get("title") or "") or document_title(source)
    return title, present


def theory_of(settings, setup_id: str, version: int) -> SetupTheory:
    """The passages `setup_id` v`version` cites, with its runs (see the module docstring)."""
    found = SetupStore.from_settings(settings).load(setup_id, version)
    passages = [CitedPassage(citation, *cited_document(settings, citation.source))
                for citation in found.setup.sources]
    return SetupTheory(found.id, found.version, found.setup.name, passages,
                       runs_of(run_summaries(settings), found.id, found.version),
                       learning_verdict(settings, found.id, found.version))


def learning_verdict(settings, setup_id: str, version: int) -> str:
    """The learning verdict of `setup_id` v`version` in one phrase, read from the registry
    (never trained here): which model, how it judged, its AUC with interval and signal count.

    >>> learning_verdict(settings, "london-fvg", 3)  # doctest: +SKIP
    'champion model 3f2a9c01 (trained 2026-03-02): better than chance, AUC 0.58 [0.53, 0.63]
    on 1,313 out-of-sample signals'
    """
    from engine.learn.ops import is_pooled, latest_card
    from engine.learn.registry import RegistryError

    try:
        card = latest_card(settings, setup_id, int(version))
    except RegistryError as error:  # e.g. a champion pointer synced before its model
        return f"the model registry cannot be read: {error}"
    if card is None:
        return NO_MODEL
    metrics = card.metrics
    kind = "champion" if card.status == "champion" else (
        "challenger" if card.status == "challenger" else "newest")
    head = f"{kind} model {card.model_id} (trained {card.trained_at[:10]})"
    if is_pooled(card):
        pool = card.dataset["pool"]
        own = int(pool.get("signals", {}).get(card.ref, 0))
        head = (f"{kind} pooled model {card.model_id} over {len(pool['members'])} setups "
                f"(trained {card.trained_at[:10]}; this setup's own {own:,} signals are too few "
                "to judge alone)")
    if not int(metrics.get("folds") or 0):  # too few signals for a walk-forward test
        return f"{head}: {metrics['verdict']}"
    auc, low, high = (float(metrics[k]) for k in ("auc", "auc_low", "auc_high"))
    judged = ("better than chance" if card.better_than_chance
              else "worse than chance" if high < 0.5 else "not better than chance")
    return (f"{head}: {judged}, AUC {auc:.2f} [{low:.2f}, {high:.2f}] on "
            f"{int(metrics['n']):,} out-of-sample signals")
