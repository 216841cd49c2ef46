"""The setup store with more than one writer: version files are created exclusively (never
overwritten, numbers unique even for two processes saving at once), and setup ids from users
cannot reach outside the store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine._io import create_exclusive
from engine.errors import SetupError
from engine.setups.store import SetupStore
from tests.setups.test_setups import MINIMAL

ROOT = Path(__file__).resolve().parents[2]
SAVER = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from engine.setups.store import SetupStore

    root, tag, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    text = Path(sys.argv[5]).read_text()
    store = SetupStore(Path(root))
    while not go.exists():
        time.sleep(0.001)
    for i in range(count):
        saved = store.save(text.replace("name: Demo", f"name: Demo {tag} {i}"))
        print(saved.version, tag, i, flush=True)
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}


def test_two_processes_saving_the_same_setup_get_a_version_each(tmp_path) -> None:
    store_root, go, count = tmp_path / "setups", tmp_path / "go", 40
    (tmp_path / "minimal.yaml").write_text(MINIMAL)
    writers = [subprocess.Popen([sys.executable, "-c", SAVER, str(store_root), tag, str(count),
                                 str(go), str(tmp_path / "minimal.yaml")],
                                cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    time.sleep(1.0)  # both import the engine, then start together
    go.touch()
    saved = {}
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
        for line in out.split("\n"):
            if line:
                version, tag, i = line.split()
                assert int(version) not in saved, f"version {version} given to two saves"
                saved[int(version)] = f"name: Demo {tag} {i}\n"
    store = SetupStore(store_root)
    assert sorted(saved) == list(range(1, 2 * count + 1))
    assert [v.version for v in store.versions("demo")] == sorted(saved)
    for version, name_line in saved.items():  # no version file was overwritten by the other
        assert name_line in store.load("demo", version).text
    assert not list((store_root / "demo").glob(".*.tmp"))


def test_a_version_created_meanwhile_is_never_overwritten(tmp_path, monkeypatch) -> None:
    """Another writer creates v2 after this save listed the versions: this save takes v3."""
    store = SetupStore(tmp_path)
    store.save(MINIMAL)
    theirs = MINIMAL.replace("name: Demo", "name: Theirs")
    listed = store._numbers("demo")
    original = SetupStore._numbers

    def stale_listing(self, setup_id):
        numbers = original(self, setup_id)
        if not (tmp_path / "demo" / "v0002.yaml").exists():
            return numbers
        return listed if len(numbers) == 2 else numbers  # as if listed before v2 appeared

    (tmp_path / "demo" / "v0002.yaml").write_text(theirs)
    monkeypatch.setattr(SetupStore, "_numbers", stale_listing)
    mine = store.save(MINIMAL.replace("name: Demo", "name: Mine"))
    monkeypatch.undo()
    assert mine.version == 3 and "name: Mine" in mine.text
    assert (tmp_path / "demo" / "v0002.yaml").read_text() == theirs
    assert store.active("demo") == 3


def test_create_exclusive_refuses_an_existing_name(tmp_path) -> None:
    path = tmp_path / "v0001.yaml"
    assert create_exclusive(path, b"first\n")
    assert not create_exclusive(path, b"second\n")
    assert path.read_bytes() == b"first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["v0001.yaml"]  # no temporary left


@pytest.mark.parametrize("bad", ["../outside", "..", "a/b", "a\\b", "nul\x00", "CON", ".hidden",
                                 ""])
def test_setup_ids_cannot_escape_the_store(tmp_path, bad) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "v0001.yaml").write_text(MINIMAL)
    store = SetupStore(tmp_path / "setups")
    store.save(MINIMAL)
    message = "setup id( .*)? (is not allowed|must be a non-empty|is a reserved)"
    for call in (lambda: store.load(bad), lambda: store.load(f"{bad}@1"),
                 lambda: store.load(bad, 1), lambda: store.activate(bad, 1),
                 lambda: store.versions(bad), lambda: store.diff(bad, 1, 1),
                 lambda: store.active(bad), lambda: store.layout_path(bad, 1)):
        with pytest.raises(SetupError, match=message):
            call()
    assert not (outside / "active").exists()


def test_ids_lists_only_safe_setup_folders(tmp_path) -> None:
    store = SetupStore(tmp_path)
    store.save(MINIMAL)
    (tmp_path / ".demo.x1y2z3w4.tmp").mkdir()
    (tmp_path / ".demo.x1y2z3w4.tmp" / "v0001.yaml").write_text(MINIMAL)
    assert store.ids() == ["demo"]
