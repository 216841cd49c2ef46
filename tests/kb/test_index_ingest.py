"""`add_files`, `ita kb add|list|search|rebuild` and the kb jobs: one line per file, the batch
goes on past bad files, the base is unchanged by them, exit code 1 when any failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.jobs.kinds import KINDS
from engine.kb.index import KnowledgeIndex
from engine.kb.ingest import add_files
from engine.settings import Settings
from tests.kb.files import blank_png, empty_file, markdown, text_pdf, zip_archive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def settings(ita_home: Path) -> Settings:
    return Settings(home=ita_home, analyst="anna")


@pytest.fixture()
def batch(tmp_path) -> list[Path]:
    folder = tmp_path / "course"
    folder.mkdir()
    markdown(folder / "liquidity.md")
    (folder / ".hidden.md").write_text("# skipped\n\nhidden files are skipped\n")
    return [text_pdf(tmp_path / "book.pdf", pages=["A fair value gap is a three-candle "
                                                    "imbalance.", "Order blocks come next."]),
            empty_file(tmp_path / "empty.txt"), zip_archive(tmp_path / "course.zip"),
            blank_png(tmp_path / "chart.png"), folder]


def test_a_batch_goes_on_past_bad_files_and_reports_each(settings, batch):
    report = add_files(settings, batch, tags=("course",))
    results = {result.name: result for result in report.files}
    assert list(results) == ["book.pdf", "empty.txt", "course.zip", "chart.png",
                             "course/liquidity.md"]
    assert {name for name, r in results.items() if r.status == "added"} == {
        "book.pdf", "course/liquidity.md"}
    assert results["book.pdf"].chunks == 2 and results["book.pdf"].message == "2 passages"
    assert results["empty.txt"].message == "empty.txt: the file is empty (0 bytes)"
    assert "unpack" in results["course.zip"].message
    assert results["chart.png"].status == "failed"
    assert results["chart.png"].message.startswith("chart.png: ")

    # the picture without text was copied, could not be read, and was taken out again
    theory = sorted(path.name for path in (settings.shared_kb_dir / "theory").iterdir())
    assert len(theory) == 4 and not any(name.startswith("chart") for name in theory)
    index = KnowledgeIndex(settings)
    assert {row["source"] for row in index.documents()} == {
        results["book.pdf"].source, results["course/liquidity.md"].source}
    assert {row["status"] for row in index.documents()} == {"indexed"}

    again = add_files(settings, batch[:1])
    assert again.files[0].status == "already there" and again.refresh.chunks == 0


def test_kb_add_exits_1_when_a_file_failed_and_the_rest_is_added(ita_home, batch):
    """The real `ita` entry point (it used to drop a command's exit code)."""
    env = {**os.environ, "ITA_HOME": str(ita_home), "PYTHONPATH": str(ROOT),
           "ITA_ANALYST": "anna", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "kb", "add", str(batch[0]),
                           str(batch[1])], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stderr
    assert "added book.pdf -> theory/book--" in " ".join(done.stdout.split())
    assert "failed empty.txt: empty.txt: the file is empty (0 bytes)" in " ".join(
        done.stdout.split())
    assert "1 of 2 files failed" in done.stderr


def test_kb_list_search_and_rebuild(settings, ita_home, batch):
    add_files(settings, [batch[0], batch[4]])
    runner = CliRunner()
    listed = runner.invoke(app, ["kb", "list"], terminal_width=200)
    assert listed.exit_code == 0
    assert "theory/book--" in listed.output and "indexed" in listed.output

    found = runner.invoke(app, ["kb", "search", "имбаланс из трёх свечей", "--k", "1"],
                          terminal_width=200)
    assert found.exit_code == 0, found.output
    assert "[1] theory/book--" in found.output and ".pdf, p. 1" in found.output
    assert "three-candle imbalance" in found.output

    filtered = runner.invoke(app, ["kb", "search", "ликвидность", "--language", "ru",
                                   "--analyst", "anna", "--k", "2"], terminal_width=200)
    assert "liquidity" in filtered.output and "Глава 2. Ликвидность" in filtered.output

    rebuilt = runner.invoke(app, ["kb", "rebuild"], terminal_width=200)
    assert rebuilt.exit_code == 0 and "2 added" in rebuilt.output and "(rebuilt)" in \
        rebuilt.output


def test_kb_search_on_an_empty_base_says_so(ita_home):
    result = CliRunner().invoke(app, ["kb", "search", "fvg"])
    assert result.exit_code == 0 and "nothing found" in result.output


def test_kb_jobs_add_and_rebuild_with_progress(settings, ita_home, batch):
    steps: list[tuple[float, str]] = []
    kind = KINDS["kb_ingest"]
    result = kind.run(kind.validate({"paths": [str(batch[0]), str(batch[1])],
                                     "tags": ["smc"]}),
                      lambda fraction, message: steps.append((fraction, message)), job_id="j1")
    assert result["failed"] == 1 and result["chunks"] == 2
    assert [f["status"] for f in result["files"]] == ["added", "failed"]
    assert steps[-1][0] == 1.0 and [s[0] for s in steps] == sorted(s[0] for s in steps)

    # the app saved an upload into the shared folder itself: an empty job only indexes
    notes = settings.shared_kb_dir / "analysts" / "anna" / "notes"
    notes.mkdir(parents=True)
    markdown(notes / "n.md")
    refreshed = kind.run(kind.validate({}), lambda *_: None, job_id="j2")
    assert refreshed["added"] == ["analysts/anna/notes/n.md"]

    rebuild = KINDS["kb_rebuild"]
    assert len(rebuild.run(rebuild.validate({}), lambda *_: None, job_id="j3")["added"]) == 2


def test_kb_job_parameters_are_checked():
    from engine.errors import JobError

    with pytest.raises(JobError, match="job parameter path"):
        KINDS["kb_ingest"].validate({"path": "x.pdf"})
