"""Add files to the knowledge base: the one operation behind `ita kb add`, the Knowledge page
and the `kb_ingest` job.

`add_files` copies each file into ``shared_kb/theory/`` (`shared.add_theory`: a unique name per
content, a manifest naming the analyst), then brings the local index up to date
(`KnowledgeIndex.refresh`). Every file gets one result line; a bad file (a zero-byte file, an
archive, an encrypted PDF, an image without text, over the size limit) is reported and the rest
of the batch goes on. A file this call copied that then cannot be read is removed from the
shared folder again, so the base is unchanged by it; an identical file already there is
reported as such and left alone.

>>> report = add_files(settings, [Path("SMC книга.pdf"), Path("notes/")])  # doctest: +SKIP
>>> [(result.name, result.status) for result in report.files]
[('SMC книга.pdf', 'added'), ('notes/fvg.md', 'added')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.errors import KnowledgeError
from engine.kb.index import KnowledgeIndex, Progress, RefreshReport, _no_progress

COPY_SHARE = 0.05
"""Share of the progress bar for copying the files into the shared folder (the rest: indexing)."""


@dataclass(frozen=True)
class FileResult:
    """One file of a batch: `status` is "added", "already there" or "failed"."""

    name: str  # as the user gave it (a folder's files relative to the folder's parent)
    status: str
    message: str  # the one-line reason for "failed"; "12 passages" otherwise
    source: str | None = None  # the document key in shared_kb/
    chunks: int = 0


@dataclass(frozen=True)
class IngestReport:
    files: tuple[FileResult, ...]
    refresh: RefreshReport

    @property
    def failed(self) -> tuple[FileResult, ...]:
        return tuple(result for result in self.files if result.status == "failed")


def expand_paths(paths: Iterable[Path]) -> list[tuple[str, Path]]:
    """Files to add as (shown name, path): a folder gives its files (recursively, sorted,
    hidden ones skipped); a file or a missing path is kept as given (a missing one is
    reported by the copy)."""
    files: list[tuple[str, Path]] = []
    for path in map(Path, paths):
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in relative.parts):
                    files.append(((Path(path.name) / relative).as_posix(), child))
        else:
            files.append((path.name, path))
    return files


def add_files(settings, paths: Sequence[Path], *, analyst: str | None = None,
              tags: Sequence[str] = (), progress: Progress | None = None) -> IngestReport:
    """Add `paths` (files or folders) as theory documents and index them (see the module)."""
    from engine.kb.shared import THEORY, add_theory, remove_theory

    progress = progress or _no_progress
    analyst = analyst or settings.analyst
    files = expand_paths(paths)
    if not files:
        raise KnowledgeError("kb add: no files given (a folder given was empty)")
    theory = settings.shared_kb_dir / THEORY
    before = {path.name for path in theory.iterdir()} if theory.is_dir() else set()
    copied: dict[str, tuple[str, bool]] = {}  # shown name -> (source, new in this call)
    failed: dict[str, str] = {}
    for i, (name, path) in enumerate(files):
        progress(COPY_SHARE * i / len(files), f"copying {name}")
        try:
            document = add_theory(settings, path, analyst=analyst, tags=tuple(tags))
        except KnowledgeError as error:
            failed[name] = str(error)
            continue
        again = any(source == document.source for source, _ in copied.values())
        copied[name] = (document.source, document.path.name not in before and not again)
    index = KnowledgeIndex(settings)
    refresh = index.refresh(lambda fraction, message: progress(
        COPY_SHARE + (1 - COPY_SHARE) * fraction, message))
    unreadable = dict(refresh.failed)
    for source, new in copied.values():
        if source in unreadable and new:
            remove_theory(settings, source, analyst=analyst)
            index.drop(source)
    state = index.state()
    return IngestReport(tuple(_result(name, copied, failed, unreadable, state)
                              for name, _ in files), refresh)


def _result(name: str, copied, failed, unreadable, state) -> FileResult:
    if name in failed:
        return FileResult(name, "failed", failed[name])
    source, new = copied[name]
    if source in unreadable or source in state["failed"]:  # now, or the same file before
        message = unreadable.get(source) or state["failed"][source]["error"]
        stored = PurePosixPath(source).name  # the message names the file as the user does
        if message.startswith(stored + ":"):
            message = PurePosixPath(name).name + message[len(stored):]
        return FileResult(name, "failed", message, source)
    chunks = int(state["documents"].get(source, {}).get("chunks", 0))
    status = "added" if new else "already there"
    return FileResult(name, status, f"{chunks} passage{'' if chunks == 1 else 's'}", source,
                      chunks)
