"""The backtest report in Notion: headline numbers gross and net, breakdowns, images uploaded
and attached, and the random-sample check equal to the run's trades (times and prices)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.adapters.notion.backtest_report import (
    build_report,
    exact_price,
    key_of,
    publish_backtest_report,
)
from engine.adapters.notion.blocks import plain
from engine.adapters.notion.config import ENABLE_HINT, NotionSettings
from engine.adapters.notion.state import NotionState
from engine.adapters.notion.workspace import setup_workspace
from engine.adapters.runs import RunStore
from engine.backtest.run import run_backtest
from engine.settings import get_settings
from tests.conftest import home_env


@pytest.fixture(scope="module")
def run_home(new_demo_home):
    with home_env(new_demo_home("home")) as folder:
        yield folder, run_backtest("sma-cross").run_id


@pytest.fixture()
def ita_home(run_home, monkeypatch):  # the notion_env fixture's home: the demo with a run
    monkeypatch.setenv("ITA_HOME", str(run_home[0]))
    return run_home[0]


def same(shown: str, price: float) -> bool:
    """The shown price is the filled price (up to the float's last bit: 23980.1169 for
    23980.116899999997)."""
    return math.isclose(float(shown), price, rel_tol=1e-12, abs_tol=0.0)


def _text(cells) -> list[str]:
    return ["".join(item["text"]["content"] for item in cell) for cell in cells]


def _table(fake, block) -> list[list[str]]:
    return [_text(row["table_row"]["cells"]) for row in fake.block_children(block["id"])]


def _page(fake, page_id):
    return fake.block_children(page_id)


def _after(page, heading):
    at = next(i for i, b in enumerate(page) if b["type"].startswith("heading")
              and _text([b[b["type"]]["rich_text"]])[0] == heading)
    return page[at + 1:]


def test_the_sample_rows_are_the_runs_trades_exactly(fake, notion_env, ita_home, run_home):
    setup_workspace(ita_home, notion_env)
    report = build_report(get_settings(), run_id=run_home[1], sample=5, seed=11)
    page_id = publish_backtest_report(ita_home, notion_env, report)
    page = _page(fake, page_id)
    sample_part = _after(page, "Random-sample check")
    said = _text([sample_part[0]["paragraph"]["rich_text"]])[0]
    assert "seed 11" in said
    table = next(b for b in sample_part if b["type"] == "table")
    rows = _table(fake, table)[1:]
    trades = RunStore.from_settings().frame(run_home[1], "trades")
    assert len(rows) == 5 and len(trades) > 5
    for row in rows:
        entry = pd.Timestamp(row[2], tz="UTC")  # the demo's display zone is UTC
        [trade] = [t for _, t in trades.iterrows() if t["entry_time"] == entry]
        assert same(row[3], trade["entry_price"])  # exact: never rounded
        assert pd.Timestamp(row[4], tz="UTC") == trade["exit_time"]
        assert same(row[5], trade["exit_price"])
        assert row[1] == ("long" if trade["direction"] > 0 else "short")
    # the same seed draws the same trades; the sample is the report's own draw
    assert [r[2] for r in rows] == [f"{t:%Y-%m-%d %H:%M:%S}" for t in
                                    report.sample["entry_time"]]
    images = [b for b in page if b["type"] == "image"]
    assert len(images) == 2 + 5  # equity, R histogram, one chart per sampled trade
    assert all(u["status"] == "attached" for u in fake.uploads.values())
    assert all(u["data"].startswith(b"\x89PNG") for u in fake.uploads.values())
    assert len(fake.uploads) == 7


def test_headline_numbers_show_gross_and_net_and_what_each_uses(fake, notion_env, ita_home,
                                                                run_home):
    setup_workspace(ita_home, notion_env)
    report = build_report(get_settings(), run_id=run_home[1], sample=0)
    page = _page(fake, publish_backtest_report(ita_home, notion_env, report))
    table = next(b for b in _after(page, "Headline numbers") if b["type"] == "table")
    rows = {row[0]: row for row in _table(fake, table)}
    assert rows["metric"] == ["metric", "gross", "net", "computed from"]
    metrics = RunStore.from_settings().summary(run_home[1])["metrics"]
    gross, net = rows["Expectancy R"][1:3]
    assert gross == f"{metrics['expectancy_r_gross']:+.2f} R"
    assert net == f"{metrics['expectancy_r_net']:+.2f} R"
    assert "money-weighted" in rows["Expectancy R"][3]
    assert rows["Trades"][2] == str(metrics["trades"])
    kinds = [b["type"] for b in page]
    assert kinds.count("heading_3") == 3  # by session, weekday, month
    assert not fake.uploads or len(fake.uploads) == 2  # no sample: only the two pictures


def test_publishing_again_replaces_the_page(fake, notion_env, ita_home, run_home):
    setup_workspace(ita_home, notion_env)
    report = build_report(get_settings(), run_id=run_home[1], sample=1)
    assert key_of(report) == f"run:{run_home[1]}"
    first = publish_backtest_report(ita_home, notion_env, report)
    second = publish_backtest_report(ita_home, notion_env, report)
    reports = NotionState(ita_home, fake.parent).data["reports_page_id"]
    live = [b["id"] for b in fake.block_children(reports) if not fake.pages[b["id"]]["in_trash"]]
    assert live == [second] and fake.pages[first]["in_trash"]


def test_a_setup_over_a_period(fake, notion_env, ita_home, run_home):
    setup_workspace(ita_home, notion_env)
    trades = RunStore.from_settings().frame(run_home[1], "trades")
    start = trades["entry_time"].iloc[0].normalize()
    end = start + pd.Timedelta(days=30)
    report = build_report(get_settings(), setup="sma-cross", start=start, end=end, sample=2)
    assert key_of(report) == f"setup:sma-cross@v1:{start:%Y-%m-%d}..{end:%Y-%m-%d}"
    page_id = publish_backtest_report(ita_home, notion_env, report)
    title = plain(fake.pages[page_id]["properties"]["title"])
    last = end - pd.Timedelta(days=1)  # the title names the last day included
    assert title == (f"Backtest · sma-cross v1 {report.symbol} {report.timeframe} · "
                     f"{start:%Y-%m-%d} → {last:%Y-%m-%d}")


def test_the_cli_publishes_and_without_notion_says_how(fake, notion_env, ita_home, run_home,
                                                       monkeypatch):
    from engine.cli import app

    setup_workspace(ita_home, notion_env)
    runner = CliRunner()
    result = runner.invoke(app, ["notion", "report", run_home[1], "--sample", "2"])
    assert result.exit_code == 0, result.output
    assert "published" in result.output and len(fake.uploads) == 4
    monkeypatch.delenv("NOTION_TOKEN")
    monkeypatch.setattr(NotionSettings, "model_config",
                        {**NotionSettings.model_config, "env_file": None})
    result = runner.invoke(app, ["notion", "report", run_home[1]])
    assert result.exit_code == 1
    assert str(result.exception) == ENABLE_HINT  # `ita` prints an ItaError as its one line


def test_exact_price_keeps_every_digit():
    assert exact_price(1.08523, 5) == "1.08523"
    assert exact_price(23456.7800001, 2) == "23456.7800001"
    assert exact_price(23980.116899999997, 4) == "23980.1169"  # float noise, not a digit
    assert exact_price(1.085231, 5) == "1.085231"
    assert exact_price(100.0, 2) == "100.00"


def test_a_sample_of_100_trades_fits_notions_table_limit(ita_home, run_home, tmp_path,
                                                         monkeypatch):
    from engine.adapters.notion.backtest_report import report_blocks

    report = build_report(get_settings(), run_id=run_home[1], sample=100, seed=1)
    copies = math.ceil(120 / len(report.trades))  # more trades than one table holds
    report.trades = pd.concat([report.trades] * copies, ignore_index=True)
    monkeypatch.setattr(type(report), "sample_pngs", lambda self: [])  # rows, not pictures

    class Uploads:
        def upload_image(self, path):
            return f"upload-{path.name}"

    made = report_blocks(report, Uploads(), tmp_path)
    sample = _after_local(made, "Random-sample check")
    tables = [b for b in sample if b["type"] == "table"]
    rows = [r for t in tables for r in t["table"]["children"][1:]]  # each table has a header
    assert len(rows) == 100 == len(report.sample)
    assert all(len(t["table"]["children"]) <= 100 for t in tables)


def _after_local(made, heading):
    at = next(i for i, b in enumerate(made) if b["type"] == "heading_2"
              and b["heading_2"]["rich_text"][0]["text"]["content"] == heading)
    return made[at + 1:]
