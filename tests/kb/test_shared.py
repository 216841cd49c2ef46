"""The shared folder: theory files enter append-only under a content-hashed name with a
manifest, only the adder removes them, bad input never enters, and list_documents sees every
indexable file (conflict copies included, temporaries not)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.errors import KnowledgeError
from engine.kb import shared
from engine.kb.shared import (
    SharedDocument,
    add_theory,
    analyst_dir,
    check_input,
    list_documents,
    remove_theory,
    write_analyst_file,
)
from engine.settings import Settings
from tests.kb import files


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _tree(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_add_theory_copies_under_a_hashed_name_with_its_manifest(settings: Settings,
                                                                 tmp_path: Path) -> None:
    source = files.text_pdf(tmp_path / "SMC книга (2023).pdf", pages=[files.RU_EN_PASSAGE])
    doc = add_theory(settings, source, analyst="anna", tags=["ict", " smc ", "ict"],
                     title="Книга по SMC")
    assert isinstance(doc, SharedDocument)
    sha = shared.file_sha256(source)
    assert doc.source == f"theory/SMC-книга-2023--{sha[:8]}.pdf"
    assert doc.path == settings.shared_kb_dir / doc.source
    assert doc.path.read_bytes() == source.read_bytes()
    assert (doc.sha256, doc.size, doc.analyst, doc.kind) == (sha, source.stat().st_size,
                                                             "anna", "pdf")
    assert (doc.title, doc.tags) == ("Книга по SMC", ("ict", "smc"))
    manifest = json.loads((doc.path.parent / (doc.path.name + ".manifest.json")).read_text())
    assert manifest == {"file": doc.path.name, "sha256": sha, "size": doc.size,
                        "added_by": "anna", "added_at": manifest["added_at"],
                        "original_name": "SMC книга (2023).pdf", "title": "Книга по SMC",
                        "tags": ["ict", "smc"]}
    assert manifest["added_at"].endswith("Z")
    assert _tree(settings.shared_kb_dir) == ["theory", f"theory/{doc.path.name}",
                                             f"theory/{doc.path.name}.manifest.json"]
    assert source.exists()  # copied, not moved


def test_identical_file_again_adds_nothing_whatever_its_name(settings: Settings,
                                                             tmp_path: Path) -> None:
    first = add_theory(settings, files.markdown(tmp_path / "notes.md"), analyst="anna")
    manifest = first.path.with_name(first.path.name + ".manifest.json").read_text()
    before = _tree(settings.shared_kb_dir)
    again = add_theory(settings, files.markdown(tmp_path / "копия.md"), analyst="boris",
                       tags=["other"])
    assert again == first and again.analyst == "anna"
    assert _tree(settings.shared_kb_dir) == before
    assert first.path.with_name(first.path.name + ".manifest.json").read_text() == manifest


def test_different_files_with_one_name_never_collide(settings: Settings, tmp_path: Path
                                                     ) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = add_theory(settings, files.markdown(tmp_path / "a" / "notes.md", "# A\n\none"),
                     analyst="anna")
    two = add_theory(settings, files.markdown(tmp_path / "b" / "notes.md", "# B\n\ntwo"),
                     analyst="boris")
    assert one.source != two.source
    assert [d.source for d in list_documents(settings)] == sorted([one.source, two.source])


def test_upload_keeps_the_users_name(settings: Settings, tmp_path: Path) -> None:
    upload = files.screenshot_png(tmp_path / "upload-7f3a")
    doc = add_theory(settings, upload, analyst="anna", original_name="Вход от OB.PNG")
    assert doc.source.startswith("theory/Вход-от-OB--") and doc.source.endswith(".png")
    assert doc.kind == "image" and doc.title == "Вход от OB"


# ------------------------------------------------------------------ bad input never enters

def _refused(settings: Settings, path: Path, *needles: str, **kwargs) -> str:
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(KnowledgeError) as caught:
        add_theory(settings, path, analyst="anna", **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert _tree(settings.shared_kb_dir / "theory") == []
    if before is not None:
        assert path.read_bytes() == before
    return message


def test_bad_files_leave_the_shared_folder_unchanged(settings: Settings, tmp_path: Path
                                                     ) -> None:
    _refused(settings, files.encrypted_pdf(tmp_path / "locked.pdf"), "locked.pdf:", "encrypted")
    _refused(settings, files.corrupt_pdf(tmp_path / "broken.pdf"), "broken.pdf:", "damaged")
    _refused(settings, files.empty_file(tmp_path / "empty.md"), "empty.md:", "empty")
    _refused(settings, files.zip_archive(tmp_path / "course.zip"), "course.zip:",
             "unpack it and add the files")
    _refused(settings, tmp_path / "missing.pdf", "missing.pdf:", "no such file")
    (tmp_path / "folder.md").mkdir()
    _refused(settings, tmp_path / "folder.md", "is a folder")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    _refused(settings, exe, "tool.exe:", "unsupported")
    fake = tmp_path / "notes.md"
    fake.write_bytes(b"PK\x03\x04 a zip named .md")
    _refused(settings, fake, "archive")


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", kb_max_file_mb=0.01)
    big = tmp_path / "big.md"
    big.write_text("слово " * 5000, encoding="utf-8")
    message = _refused(settings, big, "big.md:", "MB limit", "ITA_KB_MAX_FILE_MB")
    assert "0.01 MB" in message


def test_size_limit_setting_defaults_to_100_mb(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().kb_max_file_mb == 100
    monkeypatch.setenv("ITA_KB_MAX_FILE_MB", "250")
    assert Settings().kb_max_file_mb == 250


@pytest.mark.parametrize(("name", "needle"), [
    ("../../etc/evil.md", "is a path"), ("/etc/passwd.md", "is a path"),
    ("C:\\Windows\\x.md", "is a path"), ("C:x.md", "is a path"), ("..", "is a path"),
    ("a\x00b.md", "NUL or control"), ("line\nbreak.md", "NUL or control"),
    ("CON.md", "reserved device name"), ("nul.txt", "reserved device name"),
    (".hidden.md", "hidden"), ("", "no name"), ("x" * 250 + ".md", "longer than 240")])
def test_names_with_path_tricks_are_refused(settings: Settings, tmp_path: Path, name: str,
                                            needle: str) -> None:
    upload = files.markdown(tmp_path / "upload.md")
    _refused(settings, upload, needle, original_name=name)


def test_analyst_names_are_checked(settings: Settings, tmp_path: Path) -> None:
    path = files.markdown(tmp_path / "notes.md")
    for bad in ("../boris", "", "a/b", "CON"):
        with pytest.raises(KnowledgeError, match="analyst name"):
            add_theory(settings, path, analyst=bad)
        with pytest.raises(KnowledgeError, match="analyst name"):
            analyst_dir(settings, bad)


def test_check_input_alone(tmp_path: Path) -> None:
    ok = files.markdown(tmp_path / "ok.md")
    check_input(ok, max_bytes=10_000)
    with pytest.raises(KnowledgeError, match="over the"):
        check_input(ok, max_bytes=10)


# ------------------------------------------------------------------------------ removal

def test_only_the_adder_removes_a_theory_file(settings: Settings, tmp_path: Path) -> None:
    doc = add_theory(settings, files.markdown(tmp_path / "notes.md"), analyst="anna")
    with pytest.raises(KnowledgeError) as caught:
        remove_theory(settings, doc.source, analyst="boris")
    assert str(caught.value) == f"{doc.source}: was added by anna; only anna may remove it"
    assert doc.path.exists()
    remove_theory(settings, doc.source, analyst="anna")
    assert _tree(settings.shared_kb_dir / "theory") == []
    with pytest.raises(KnowledgeError, match="no such document"):
        remove_theory(settings, doc.source, analyst="anna")


def test_a_file_without_its_manifest_is_not_removed(settings: Settings, tmp_path: Path) -> None:
    doc = add_theory(settings, files.markdown(tmp_path / "notes.md"), analyst="anna")
    doc.path.with_name(doc.path.name + ".manifest.json").unlink()
    with pytest.raises(KnowledgeError, match="manifest has not arrived"):
        remove_theory(settings, doc.source, analyst="anna")
    assert doc.path.exists()


def test_same_file_added_by_two_analysts_at_once_belongs_to_the_first(
        settings: Settings, tmp_path: Path) -> None:
    """Both add one book before syncing: one name, two manifests, which rclone keeps as
    conflict copies; every machine then attributes the file to the earlier addition."""
    doc = add_theory(settings, files.markdown(tmp_path / "book.md"), analyst="anna")
    manifest = doc.path.with_name(doc.path.name + ".manifest.json")
    anna = json.loads(manifest.read_text())
    boris = {**anna, "added_by": "boris", "added_at": "2020-01-01T00:00:00Z"}
    manifest.rename(manifest.with_name(manifest.name + ".conflict1"))
    manifest.with_name(manifest.name + ".conflict2").write_text(json.dumps(boris))
    (listed,) = list_documents(settings)
    assert (listed.source, listed.analyst) == (doc.source, "boris")
    with pytest.raises(KnowledgeError, match="only boris may remove it"):
        remove_theory(settings, doc.source, analyst="anna")
    remove_theory(settings, doc.source, analyst="boris")
    assert _tree(settings.shared_kb_dir / "theory") == []


@pytest.mark.parametrize("source", ["theory/../setups/x.md", "analysts/anna/notes/a.md",
                                    "/etc/passwd", "theory/a/b.md", "theory/.hidden.md"])
def test_remove_refuses_anything_but_a_theory_file(settings: Settings, source: str) -> None:
    with pytest.raises(KnowledgeError):
        remove_theory(settings, source, analyst="anna")


# ------------------------------------------------------------------------------ analysts

def test_write_analyst_file_is_atomic_and_stays_in_the_folder(settings: Settings) -> None:
    path = write_analyst_file(settings, "anna", "findings/london-fvg-v3.md", "# Итоги\n")
    assert path == settings.shared_kb_dir / "analysts/anna/findings/london-fvg-v3.md"
    assert path.read_text(encoding="utf-8") == "# Итоги\n"
    write_analyst_file(settings, "anna", "findings/london-fvg-v3.md", b"# v2\n")
    assert path.read_bytes() == b"# v2\n"
    assert [p.name for p in path.parent.iterdir()] == ["london-fvg-v3.md"]
    for bad in ("../boris/findings/x.md", "/abs.md", "findings//x.md", "findings/../../x.md",
                "findings/.x.md", "findings\\..\\x.md", ""):
        with pytest.raises(KnowledgeError):
            write_analyst_file(settings, "anna", bad, "x")
    assert _tree(settings.shared_kb_dir / "analysts") == [
        "anna", "anna/findings", "anna/findings/london-fvg-v3.md"]


# ------------------------------------------------------------------------------ listing

def test_list_documents_sees_every_indexable_file(settings: Settings, tmp_path: Path) -> None:
    theory = add_theory(settings, files.markdown(tmp_path / "notes.md"), analyst="anna",
                        tags=["ict"])
    root = settings.shared_kb_dir
    # a theory file whose manifest has not synced yet
    orphan = root / "theory" / "arrived--0123abcd.txt"
    orphan.write_text("Текст без манифеста.", encoding="utf-8")
    write_analyst_file(settings, "boris", "findings/asia-sweep-v2.md", "# Выводы\n\n212 сделок")
    write_analyst_file(settings, "boris", "notes/2024/screen.png",
                       files.screenshot_png(tmp_path / "s.png").read_bytes())
    write_analyst_file(settings, "boris", "labels/labels.csv", "a,b\n")       # not indexed
    write_analyst_file(settings, "boris", "models/model.md", "# model card")  # not indexed
    write_analyst_file(settings, "anna", "journal/x.yaml", "note: 1")         # not indexed
    # rclone bisync conflict copies are documents too
    (root / "analysts/boris/findings/asia-sweep-v2.md.conflict1").write_text("# A")
    (root / "analysts/boris/findings/asia-sweep-v2.conflict2.md").write_text("# B")
    (root / "analysts/boris/findings/old.md..path1").write_text("# C")
    # temporaries, partial downloads, hidden files, manifests and unsupported files are not
    (root / "analysts/boris/findings/.x.md.ab12cd34.tmp").write_text("half")
    (root / "analysts/boris/findings/big.pdf.partial").write_text("half")
    (root / "analysts/boris/findings/.hidden.md").write_text("x")
    (root / "analysts/boris/findings/archive.zip").write_bytes(b"PK")
    (root / "theory" / (theory.path.name + ".manifest.json.conflict1")).write_text("{}")
    (root / "analysts/.trash/findings").mkdir(parents=True)
    (root / "analysts/.trash/findings/x.md").write_text("x")
    (root / "analysts/boris/notes/.cache").mkdir()
    (root / "analysts/boris/notes/.cache/x.md").write_text("x")
    secret = tmp_path / "secret.md"
    secret.write_text("not for the shared folder")
    (root / "theory" / "link--00000000.md").symlink_to(secret)     # links are skipped
    (root / "analysts/boris/notes/linked").symlink_to(tmp_path, target_is_directory=True)

    docs = list_documents(settings)
    assert [d.source for d in docs] == sorted([
        theory.source, "theory/arrived--0123abcd.txt",
        "analysts/boris/findings/asia-sweep-v2.md",
        "analysts/boris/findings/asia-sweep-v2.md.conflict1",
        "analysts/boris/findings/asia-sweep-v2.conflict2.md",
        "analysts/boris/findings/old.md..path1",
        "analysts/boris/notes/2024/screen.png"])
    by_source = {d.source: d for d in docs}
    assert by_source[theory.source] == theory
    unknown = by_source["theory/arrived--0123abcd.txt"]
    assert (unknown.analyst, unknown.kind, unknown.title) == ("unknown", "text", "arrived")
    assert unknown.sha256 == shared.file_sha256(orphan)
    finding = by_source["analysts/boris/findings/asia-sweep-v2.md"]
    assert (finding.analyst, finding.kind, finding.tags) == ("boris", "markdown", ())
    assert by_source["analysts/boris/findings/asia-sweep-v2.md.conflict1"].kind == "markdown"
    assert by_source["analysts/boris/notes/2024/screen.png"].kind == "image"


def test_conflict_copies_are_read_like_the_files_they_copy(settings: Settings,
                                                           tmp_path: Path) -> None:
    from engine.kb.extract import extract

    root = settings.shared_kb_dir
    book = add_theory(settings, files.text_pdf(tmp_path / "book.pdf",
                                               pages=[files.RU_EN_PASSAGE]), analyst="anna")
    book.path.rename(book.path.with_name(book.path.name + ".conflict1"))
    write_analyst_file(settings, "anna", "findings/a.md.conflict2", "# Итоги\n\nВторая копия")
    write_analyst_file(settings, "anna", "notes/b.conflict1.md", "# Notes\n\nKept copy")
    write_analyst_file(settings, "anna", "notes/c.txt..path1", "Старое имя копии")
    docs = list_documents(settings)
    assert len(docs) == 4 and {d.kind for d in docs} == {"pdf", "markdown", "text"}
    texts = {d.source: extract(d.path).sections[-1].text for d in docs}
    assert texts.pop(f"{book.source}.conflict1").startswith("Справедливый разрыв стоимости")
    assert texts == {"analysts/anna/findings/a.md.conflict2": "Вторая копия",
                     "analysts/anna/notes/b.conflict1.md": "Kept copy",
                     "analysts/anna/notes/c.txt..path1": "Старое имя копии"}
    assert root.joinpath(book.source + ".conflict1").exists()


def test_list_documents_sees_a_changed_finding(settings: Settings) -> None:
    path = write_analyst_file(settings, "anna", "findings/a.md", "# one")
    first = list_documents(settings)[0].sha256
    write_analyst_file(settings, "anna", "findings/a.md", "# two, longer")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert list_documents(settings)[0].sha256 != first


def test_empty_shared_folder_lists_nothing(settings: Settings) -> None:
    assert list_documents(settings) == []
