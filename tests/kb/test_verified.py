"""Knowledge verified by backtests: `sources:` round-trips through the store and the editor,
`results_for_source` puts real runs beside the passage a setup cites, and `write_findings`
writes the analyst's findings with those runs' numbers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.backtest.run import run_backtest
from engine.demo import import_demo_candles
from engine.errors import SetupError
from engine.kb.findings import findings_status, publish_findings, write_findings
from engine.kb.shared import add_theory
from engine.kb.verified import NO_MODEL, period_words, results_for_source, theory_of
from engine.settings import Settings
from engine.setups.edit import apply_changes, apply_setup
from engine.setups.parse import parse_setup, rule_hash
from engine.setups.store import SetupStore
from tests.conftest import ROOT

BOOK = "theory/smc-book--1a2b3c4d.pdf"
SMA = (ROOT / "examples" / "setups" / "sma-cross.yaml").read_text(encoding="utf-8")
CITED = SMA + (
    "sources:\n"
    f"  - source: {BOOK}\n"
    "    page: 42\n"
    f"    chunk: '{BOOK}#00012'\n"
    "    quote: Buy when the fast average crosses above the slow one.  # the book's words\n")


def test_sources_round_trip_through_the_store_and_the_editor(tmp_path):
    setup = parse_setup(CITED)
    assert setup.sources[0].page == 42 and setup.sources[0].chunk == f"{BOOK}#00012"
    assert rule_hash(parse_setup(SMA)) == "d66d8728b88ff313"  # unchanged by the new field

    edited = apply_setup(CITED, setup.model_copy(update={"direction": "long"}))
    assert edited.replace("direction: long", "direction: both") == CITED  # one-line diff
    assert "# the book's words" in edited
    moved = apply_changes(CITED, {("sources", 0, "page"): 43})
    assert parse_setup(moved).sources[0].page == 43

    version = SetupStore(tmp_path / "setups").save(CITED)
    assert version.setup.sources == setup.sources


def test_bad_sources_name_the_line_and_field():
    with pytest.raises(SetupError) as bad:
        parse_setup(SMA + "sources:\n  - {source: ../secrets.txt, quote: '" + "x" * 301
                    + "'}\n", source="s.yaml")
    message = str(bad.value)
    assert "s.yaml:29: sources.0.source: '../secrets.txt' is not a document" in message
    assert "s.yaml:29: sources.0.quote: String should have at most 300 characters" in message


@pytest.fixture(scope="module")
def verified_home(tmp_path_factory):
    """A home with the demo candles, sma-cross v1 (no sources) and v2 (cites p. 42), and two
    real backtest runs of v2 and one of v1."""
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, analyst="anna")
    candles, setups = CandleStore.from_settings(settings), SetupStore.from_settings(settings)
    import_demo_candles(candles)
    setups.save(SMA)
    setups.save(CITED)
    runs = RunStore.from_settings(settings)
    for ref, start in (("sma-cross@1", None), ("sma-cross@2", None),
                       ("sma-cross@2", "2023-03-10")):
        run_backtest(ref, start=start, end="2023-03-14", candle_store=candles,
                     setup_store=setups, run_store=runs)
    return settings


def test_results_for_a_cited_passage_show_the_real_runs(verified_home):
    [found] = results_for_source(verified_home, BOOK, page=42)

    assert (found.setup_id, found.version) == ("sma-cross", 2)
    assert found.learning == NO_MODEL
    assert len(found.runs) == 2
    store = RunStore.from_settings(verified_home)
    for run in found.runs:
        summary = store.root / run.run_id / "summary.json"
        assert summary.exists()
        metrics = json.loads(summary.read_text())["metrics"]
        assert (run.trades, run.expectancy_r, run.win_rate, run.profit_factor) == (
            metrics["trades"], metrics["expectancy_r"], metrics["win_rate"],
            metrics["profit_factor"])
        assert run.trades > 0 and run.symbol == "BTC/USDT" and run.timeframe == "1m"
    latest = found.runs[0]
    assert latest.start.startswith("2023-03-10")  # newest first
    assert found.line() == (f"this rule from «smc-book», p. 42, as setup sma-cross v2: "
                            f"{latest.trades} trades, {latest.expectancy_r:+.2f} R "
                            "(BTC/USDT 1m)")

    assert results_for_source(verified_home, BOOK) == [found]
    assert results_for_source(verified_home, BOOK, page=41) == []
    assert results_for_source(verified_home, "theory/other--00000000.pdf") == []


def test_findings_hold_the_runs_numbers(verified_home):
    path = write_findings(verified_home, "sma-cross", 2)

    assert path == (verified_home.home / "shared_kb" / "analysts" / "anna" / "findings"
                    / "sma-cross-v2.md")
    text = path.read_text(encoding="utf-8")
    [found] = results_for_source(verified_home, BOOK, page=42)
    for run in found.runs:
        assert (f"| BTC/USDT | 1m | {run.start[:10]} → {run.end[:10]} | {run.trades} | "
                f"{run.expectancy_r:+.2f} R |") in text
    assert "«smc-book», p. 42: “Buy when the fast average crosses above the slow one.”" in text
    assert "- By session (all runs' trades): " in text and "- By side" in text
    assert f"Learning: {NO_MODEL}." in text
    assert not list(path.parent.glob(".*.tmp"))

    unrun = write_findings(verified_home, "sma-cross", 1)
    assert "Not backtested yet" not in unrun.read_text()  # v1 has a run


def test_the_visual_editor_keeps_the_sources():
    from app.flow_graph import graph_to_setup, setup_to_graph

    setup = parse_setup(CITED)
    rebuilt = graph_to_setup(setup_to_graph(setup), base=setup)

    assert rebuilt.sources == setup.sources
    assert apply_setup(CITED, rebuilt) == CITED


def test_a_run_reads_as_a_trader_says_it(verified_home):
    [found] = results_for_source(verified_home, BOOK, page=42)
    latest = found.runs[0]

    assert latest.measured() == (
        f"{latest.trades} trades, {latest.expectancy_r:+.2f} R, win "
        f"{round(latest.win_rate * 100)} %, PF {latest.profit_factor:.2f}, BTC/USDT 1m, "
        "10–13 Mar 2023")
    assert period_words("2023-03-01 00:00:00+00:00", "2023-03-21 23:59:00+00:00") == \
        "1–21 Mar 2023"
    assert period_words("2023-02-27", "2023-03-02") == "27 Feb – 2 Mar 2023"
    assert period_words("2022-12-30", "2023-01-02") == "30 Dec 2022 – 2 Jan 2023"


def test_the_theory_of_a_version_marks_a_missing_document(verified_home, tmp_path):
    note = tmp_path / "Crossing averages.md"
    note.write_text("# Averages\n\nBuy when the fast average crosses above the slow one.\n",
                    encoding="utf-8")
    added = add_theory(verified_home, note, analyst="anna", title="Moving averages, ch. 3")
    both = CITED + f"  - source: {added.source}\n    quote: Buy when the fast crosses.\n"
    store = SetupStore.from_settings(verified_home)
    version = store.save(both.replace("id: sma-cross", "id: sma-cross-cited"))

    theory = theory_of(verified_home, "sma-cross-cited", version.version)

    book, note_passage = theory.passages
    assert (book.citation.source, book.citation.page, book.present, book.title) == (
        BOOK, 42, False, "smc-book")  # the book was never added: missing, not hidden
    assert (note_passage.present, note_passage.title) == (True, "Moving averages, ch. 3")
    assert theory.runs == [] and theory.learning == NO_MODEL
    [cited] = theory_of(verified_home, "sma-cross", 2).runs[:1]
    assert cited == results_for_source(verified_home, BOOK, page=42)[0].runs[0]
    assert theory_of(verified_home, "sma-cross", 1).passages == []


def test_published_findings_are_found_by_search(verified_home):
    from engine.kb.search import search

    status = findings_status(verified_home, "sma-cross", 2,
                             theory_of(verified_home, "sma-cross", 2).runs)
    published = publish_findings(verified_home, "sma-cross", 2)

    assert published.source == "analysts/anna/findings/sma-cross-v2.md"
    assert published.source in published.refresh.added + published.refresh.updated
    [latest, *_] = theory_of(verified_home, "sma-cross", 2).runs
    # v1's findings read almost the same (same rule, same words): by name the two are close,
    # and which leads varies with their timestamps' few characters; by its own number, v2 leads
    hits = search(verified_home, "findings of sma-cross v2", k=3)
    assert published.source in [h.source for h in hits[:2]], [h.source for h in hits]
    hits = search(verified_home, f"{latest.trades} trades", k=3)
    assert hits and hits[0].source == published.source, [h.source for h in hits]
    now = findings_status(verified_home, "sma-cross", 2, [latest])
    assert now.written_at is not None and now.newer_runs == 0
    later = dataclasses.replace(latest, created_at=(now.written_at + dt.timedelta(seconds=1))
                                .isoformat())
    assert findings_status(verified_home, "sma-cross", 2, [latest, later]).newer_runs == 1
    assert status.newer_runs in (0, 2)  # written before by another test, or not at all
