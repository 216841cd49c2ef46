"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename.

A reader (or a crash, or `kill -9`) never sees a half-written file: it sees the old one or the
new one. `create_exclusive` is the variant for files that must never be replaced (setup
versions): the temporary file is hard-linked to the final name, which fails if it exists.

A writer killed mid-write leaves its hidden temporary (``.<name>.<random>.tmp``, a file or a
folder) behind; `remove_stale_temporaries` deletes the ones untouched for a while (the engine
daemon does it when it starts).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` atomically.

    >>> with atomic_path("out.parquet") as tmp:  # doctest: +SKIP
    ...     frame.to_parquet(tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it is renamed to `path`.

    Used for run folders: a crashed run leaves only a hidden `.tmp` folder, never a folder
    that looks finished.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        for child in tmp.iterdir():
            if child.is_file():
                _fsync_file(child)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def create_exclusive(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write `data` to `path` only if no file has that name: True if written, False if the name
    was taken (by another writer, even one racing this call). The file appears complete or not
    at all, and an existing file is never replaced.

    >>> create_exclusive("setups/demo/v0002.yaml", b"...")  # doctest: +SKIP
    True
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return False
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, target)  # atomic, and fails if `target` exists
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system: exclusive create, then write
            return _create_without_link(target, data)
        _fsync_dir(target.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _create_without_link(target: Path, data: bytes) -> bool:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0))
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


# mkstemp/mkdtemp names: "." + target name + "." + 8 random characters + ".tmp"
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
STALE_AFTER_SECONDS = 15 * 60


def remove_stale_temporaries(root: str | os.PathLike[str], *,
                             older_than: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Delete the hidden temporaries of `atomic_path`/`atomic_dir`/`create_exclusive` under
    `root` (recursively) that nothing has written to for `older_than` seconds; return them.

    A live writer touches its temporary while it writes and renames it within seconds, so one
    untouched for 15 minutes (the default) belongs to a writer that was killed. A folder counts
    as touched when any file inside it is.
    """
    base = Path(root)
    if not base.is_dir():
        return []
    cutoff = time.time() - older_than
    removed = []
    for folder, dirs, files in os.walk(base):
        here = Path(folder)
        for name in [d for d in dirs if _TEMPORARY.match(d)]:
            dirs.remove(name)  # never descend into a temporary folder
            if _last_touched(here / name) < cutoff:
                shutil.rmtree(here / name, ignore_errors=True)
                removed.append(here / name)
        for name in files:
            path = here / name
            if _TEMPORARY.match(name) and _last_touched(path) < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _last_touched(path: Path) -> float:
    try:
        times = [path.stat().st_mtime]
        if path.is_dir():
            times += [child.stat().st_mtime for child in path.rglob("*")]
    except FileNotFoundError:  # renamed or removed by its writer meanwhile: not stale
        return time.time()
    return max(times)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
