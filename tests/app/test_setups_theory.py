"""The Setups page's Theory view: the passages a version cites beside the numbers of real
backtest runs made here, a removed document shown as missing, the how-to line without sources,
and "Write findings" writing and indexing them."""

from __future__ import annotations

import json

import pytest

from tests.app._pages import page, texts
from tests.app.conftest import ROOT

SMA = (ROOT / "examples" / "setups" / "sma-cross.yaml").read_text(encoding="utf-8")
QUOTE = "Buy when the fast average crosses above the slow one."
GONE = "theory/old-course--0badc0de.pdf"


@pytest.fixture()
def cited_home(app_home, tmp_path, monkeypatch):
    """The demo home with a Markdown theory note, sma-cross v2 citing it (p. none) and a
    document that is not in the base, and two real backtest runs of v2."""
    from engine.backtest.run import run_backtest
    from engine.kb.shared import add_theory
    from engine.settings import get_settings
    from engine.setups.store import SetupStore

    monkeypatch.setenv("ITA_ANALYST", "anna")
    settings = get_settings()
    note = tmp_path / "Moving averages.md"
    note.write_text(f"# Crossovers\n\n{QUOTE} Sell on the opposite cross.\n", encoding="utf-8")
    added = add_theory(settings, note, analyst="anna", title="Moving averages, ch. 3")
    cited = SMA + ("sources:\n"
                   f"  - source: {added.source}\n"
                   f"    chunk: '{added.source}#00000'\n"
                   f"    quote: {QUOTE}\n"
                   f"  - source: {GONE}\n"
                   "    page: 7\n"
                   "    quote: Averages lag.\n")
    store = SetupStore.from_settings(settings)
    version = store.save(cited)
    assert version.version == 2
    runs = [run_backtest("sma-cross@2", symbol="BTC/USDT", start=start, end=end)
            for start, end in (("2023-03-01", "2023-03-04"), ("2023-03-06", "2023-03-09"))]
    return app_home, added.source, runs


def theory_page(version: int):
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    at.selectbox(key="setups_version_sma-cross").set_value(version).run()
    at.segmented_control(key="setups_view").set_value("Theory").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_the_theory_shows_the_cited_passage_beside_the_runs_numbers(cited_home):
    home, source, runs = cited_home
    at = theory_page(2)

    shown = markdown(at)
    assert "**Moving averages, ch. 3**" in shown and f"`{source}`" in shown
    assert f"> {QUOTE}" in shown
    latest = json.loads((home / "runs" / runs[1].run_id / "summary.json").read_text())
    metrics = latest["metrics"]
    assert metrics["trades"] > 0
    headline = (f"✔ Latest run: {metrics['trades']} trades, {metrics['expectancy_r']:+.2f} R, "
                f"win {round(metrics['win_rate'] * 100)} %, PF {metrics['profit_factor']:.2f}, "
                "BTC/USDT 1m, 6–8 Mar 2023")
    assert headline in shown.replace("\\", "")
    [table] = [d.value for d in at.dataframe if "profit factor" in d.value.columns]
    assert list(table["run"]) == [runs[1].run_id, runs[0].run_id]  # newest first
    for (_, row), run in zip(table.iterrows(), reversed(runs), strict=True):
        metrics = json.loads((home / "runs" / run.run_id / "summary.json").read_text())["metrics"]
        assert (row["trades"], row["expectancy"]) == (metrics["trades"], metrics["expectancy_r"])
        assert row["win rate"] == pytest.approx(metrics["win_rate"] * 100)
        assert row["profit factor"] == pytest.approx(metrics["profit_factor"])
    assert any("Learning: no model trained yet for this version" in c.value for c in at.caption)


def test_a_document_no_longer_in_the_base_is_shown_missing(cited_home):
    home, source, _ = cited_home
    at = theory_page(2)
    shown = markdown(at)
    assert ":red[**missing**] **old-course**, p. 7 — no longer in the knowledge base" in shown
    assert f"`{GONE}`" in shown and "Averages lag" in shown

    from engine.kb.shared import remove_theory
    from engine.settings import get_settings

    remove_theory(get_settings(), source, analyst="anna")  # the adder removes the note
    at.run()
    shown = markdown(at)
    assert shown.count(":red[**missing**]") == 2 and f"`{source}`" in shown
    assert "**Moving averages, ch. 3**" not in shown  # its title went with its manifest


def test_a_version_without_sources_says_how_to_cite(cited_home):
    at = theory_page(1)

    assert any(i.value.startswith("This version cites no theory yet: on the Knowledge page")
               for i in at.info)
    assert "Not backtested yet" in " ".join(c.value for c in at.caption)
    assert "missing" not in markdown(at)


def test_write_findings_writes_and_indexes_them(cited_home):
    home, _, runs = cited_home
    at = theory_page(2)
    assert at.button(key="setups_theory_write").label == "Write findings"

    at.button(key="setups_theory_write").click().run(timeout=300)

    assert not at.exception, [e.value for e in at.exception]
    path = home / "shared_kb" / "analysts" / "anna" / "findings" / "sma-cross-v2.md"
    assert path.exists()
    [notice] = texts(at.success)
    assert f"Findings written to `{path}`; indexed (" in notice
    assert at.button(key="setups_theory_write").label == "Write findings again"
    assert "analysts/anna/findings/sma-cross-v2.md`, written" in " ".join(
        c.value for c in at.caption)
    from engine.kb.search import search
    from engine.settings import get_settings

    text = path.read_text(encoding="utf-8")
    latest = json.loads((home / "runs" / runs[1].run_id / "summary.json").read_text())["metrics"]
    query = f"{latest['trades']} trades {latest['expectancy_r']:+.2f} R"  # numbers only there
    hits = search(get_settings(), query, k=3)
    assert hits[0].source == "analysts/anna/findings/sma-cross-v2.md", [h.source for h in hits]
    assert QUOTE in text
    for run in runs:
        metrics = json.loads((home / "runs" / run.run_id / "summary.json").read_text())["metrics"]
        assert f"| {metrics['trades']} | {metrics['expectancy_r']:+.2f} R |" in text


def test_findings_already_indexed_are_not_called_embedded(tmp_path):
    from app.setup_theory import published_words
    from engine.kb.findings import Published
    from engine.kb.index import RefreshReport

    source = "analysts/anna/findings/sma-cross-v2.md"
    same = Published(tmp_path / "sma-cross-v2.md", source, RefreshReport(unchanged=3))
    new = Published(tmp_path / "sma-cross-v2.md", source,
                    RefreshReport(added=(source,), chunks=4, seconds=1.26))

    assert "the index already held this very text" in published_words(same)
    assert "embedded" not in published_words(same)
    assert "indexed (4 passages embedded in 1.3 s)" in published_words(new)
