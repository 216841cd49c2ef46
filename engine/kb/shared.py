"""The shared folder ``shared_kb/``: what is in it, who may write what, and how files enter it.

    shared_kb/
      theory/<stem>--<sha8><ext>                 documents, append-only, one name per content
      theory/<stem>--<sha8><ext>.manifest.json   written once by the adder
      analysts/<name>/findings/ notes/           indexed; written only by that analyst
      analysts/<name>/labels/ screenshots/ models/ runs/ journal/   not indexed

Rules every analyst's ITA keeps, so two analysts syncing through rclone never write one file:

- A theory file's name carries the first 8 hex digits of its sha256: two analysts adding
  different files never collide, and adding an identical file again (under any name) adds
  nothing and returns the document already there.
- The manifest ``{"file", "sha256", "size", "added_by", "added_at", "original_name", "title",
  "tags"}`` is written once, by the adder, after the file. Only the adder removes a theory file
  (the file, then its manifest). Two analysts adding the same file before a sync get one
  name and two manifests, which rclone keeps as conflict copies (``.manifest.json.conflict1``):
  the earliest addition is the adder, on every machine alike.
- An analyst writes only under ``analysts/<own name>/``, each file atomically.
- Indexed documents (`list_documents`): every supported file under ``theory/`` and
  ``analysts/*/findings|notes/``, keyed by its POSIX path relative to ``shared_kb/``. A theory
  file whose manifest has not arrived yet is listed with analyst "unknown". rclone conflict
  copies (``x.md.conflict1``, ``x.conflict1.md``, ``x.md..path1``) are documents too and are
  listed; hidden, temporary (``.tmp``) and partial (``.partial``) files are not.
- No database file is ever written here (the index lives in ``.ita/kb``).

>>> doc = add_theory(settings, Path("SMC книга.pdf"), analyst="anna")  # doctest: +SKIP
>>> doc.source  # doctest: +SKIP
'theory/SMC-книга--1a2b3c4d.pdf'
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from engine._io import atomic_path, write_bytes_atomic, write_json_atomic
from engine.errors import KnowledgeError
from engine.ids import checked_id
from engine.kb.extract import KINDS, kind_of, probe, without_conflict_suffix

THEORY = "theory"
ANALYSTS = "analysts"
INDEXED_ANALYST_FOLDERS = ("findings", "notes")
MANIFEST_SUFFIX = ".manifest.json"
UNKNOWN_ANALYST = "unknown"
MB = 1024 * 1024

_STORED = re.compile(r"^(?P<stem>.+)--(?P<sha8>[0-9a-f]{8})(?P<ext>\.[A-Za-z0-9]+)$")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
             *(f"LPT{i}" for i in range(10))}
_SKIPPED_SUFFIXES = (".tmp", ".partial", MANIFEST_SUFFIX)


@dataclass(frozen=True)
class SharedDocument:
    """One indexable file in ``shared_kb/``."""

    source: str  # POSIX path relative to shared_kb/: "theory/smc--1a2b3c4d.pdf"
    path: Path
    sha256: str
    size: int
    analyst: str  # the adder (theory) or the folder's analyst; "unknown" without a manifest
    added_at: str  # ISO UTC: the manifest's time, else the file's modification time
    title: str
    tags: tuple[str, ...]
    kind: str  # "pdf" | "image" | "markdown" | "text" | "docx"


# ------------------------------------------------------------------------------ checks

def checked_file_name(name: str) -> str:
    """`name` if it is one plain file name, else a `KnowledgeError`: no folders (``/``, ``\\``,
    ``..``, an absolute or drive path), no NUL or control characters, not hidden, not a name
    Windows reserves (``CON``, ``NUL.txt``, ...). Uploads pass the browser's name through this.

    >>> checked_file_name("Глава 2.pdf")
    'Глава 2.pdf'
    """
    shown = repr(name)[1:-1][:80]
    if not isinstance(name, str) or not name.strip():
        raise KnowledgeError(f"{shown or 'file name'}: the file has no name")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise KnowledgeError(f"{shown}: the file name contains NUL or control characters — "
                             "rename the file")
    if "/" in name or "\\" in name or name in {".", ".."} or re.match(r"^[A-Za-z]:", name):
        raise KnowledgeError(f"{shown}: the name is a path, not a file name (folders, '..' and "
                             "drive letters are not allowed) — add the file itself")
    if name.startswith("."):
        raise KnowledgeError(f"{shown}: hidden file names (starting with '.') are not allowed "
                             "— rename the file")
    if name.split(".")[0].strip().upper() in _RESERVED:
        raise KnowledgeError(f"{shown}: is a reserved device name on Windows — rename the "
                             "file")
    if len(name.encode("utf-8")) > 240:
        raise KnowledgeError(f"{shown}...: the file name is longer than 240 bytes — shorten it")
    return name


def check_input(path: Path, *, max_bytes: int, name: str | None = None) -> None:
    """A `KnowledgeError` naming the file if `path` cannot enter the knowledge base: a bad
    name, missing, a folder, an archive, an unknown type, empty, or over `max_bytes`.
    `name` is the name the user gave (an upload's), if not `path`'s own."""
    path = Path(path)
    shown = checked_file_name(name if name is not None else path.name)
    kind_of(Path(shown))
    if not path.exists():
        raise KnowledgeError(f"{shown}: no such file ({path})")
    if path.is_dir():
        raise KnowledgeError(f"{shown}: is a folder — add the files in it")
    size = path.stat().st_size
    if size == 0:
        raise KnowledgeError(f"{shown}: the file is empty (0 bytes)")
    if size > max_bytes:
        raise KnowledgeError(f"{shown}: the file is {size / MB:.1f} MB, over the "
                             f"{max_bytes / MB:.3g} MB limit (ITA_KB_MAX_FILE_MB) — split it or "
                             "raise the limit")


# ------------------------------------------------------------------------------ theory

def add_theory(settings, path: Path, *, analyst: str, tags=(), title: str | None = None,
               original_name: str | None = None) -> SharedDocument:
    """Copy `path` into ``theory/<stem>--<sha8><ext>`` (atomically) with its manifest and
    return it; an identical file already there (under any name) is returned as it is. Bad
    input is a `KnowledgeError` and leaves the shared folder untouched. `original_name` is the
    user's name for the file when `path` is a temporary copy (an upload)."""
    path = Path(path)
    analyst = checked_id(analyst, what="analyst name", error=KnowledgeError)
    name = original_name if original_name is not None else path.name
    check_input(path, max_bytes=int(settings.kb_max_file_mb * MB), name=name)
    probe(path, name=name)
    sha256 = file_sha256(path)
    theory = settings.shared_kb_dir / THEORY
    existing = _find_theory(theory, sha256)
    if existing is not None:
        return existing
    stem, ext = _split_name(without_conflict_suffix(name))
    target = theory / f"{_slug(stem)}--{sha256[:8]}{ext}"
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    clean_tags = tuple(dict.fromkeys(str(t).strip() for t in tags if str(t).strip()))
    manifest = {"file": target.name, "sha256": sha256, "size": target.stat().st_size,
                "added_by": analyst, "added_at": _now(), "original_name": name,
                "title": (title or "").strip() or stem, "tags": list(clean_tags)}
    write_json_atomic(_manifest_path(target), manifest)
    return _theory_document(settings.shared_kb_dir, target, manifest)


def remove_theory(settings, source: str, *, analyst: str) -> None:
    """Remove a theory file and its manifest; only the analyst who added it may."""
    root = settings.shared_kb_dir
    parts = PurePosixPath(source).parts
    if len(parts) != 2 or parts[0] != THEORY:
        raise KnowledgeError(f"{source}: not a theory document (expected theory/<file>)")
    target = root / THEORY / checked_file_name(parts[1])
    if not target.is_file():
        raise KnowledgeError(f"{source}: no such document in the shared folder")
    manifest = _read_manifest(target)
    adder = manifest.get("added_by") if manifest else None
    if adder is None:
        raise KnowledgeError(f"{source}: its manifest has not arrived (sync first) — only the "
                             "analyst who added it may remove it")
    if adder != analyst:
        raise KnowledgeError(f"{source}: was added by {adder}; only {adder} may remove it")
    target.unlink()
    _manifest_path(target).unlink(missing_ok=True)
    for copy in target.parent.glob(glob.escape(_manifest_path(target).name) + ".conflict*"):
        copy.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ analysts

def analyst_dir(settings, analyst: str) -> Path:
    """``shared_kb/analysts/<analyst>/``, created."""
    name = checked_id(analyst, what="analyst name", error=KnowledgeError)
    folder = settings.shared_kb_dir / ANALYSTS / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_analyst_file(settings, analyst: str, relpath: str, data: bytes | str) -> Path:
    """Write `data` atomically to ``analysts/<analyst>/<relpath>`` (``findings/x.md``) and
    return its path; every part of `relpath` must be a plain file or folder name."""
    parts = relpath.replace("\\", "/").split("/") if isinstance(relpath, str) else []
    if not parts or relpath.startswith(("/", "\\")) or "" in parts:
        raise KnowledgeError(f"{relpath!r}: not a relative path inside the analyst's folder")
    for part in parts:
        checked_file_name(part)
    target = analyst_dir(settings, analyst).joinpath(*parts)
    write_bytes_atomic(target, data.encode("utf-8") if isinstance(data, str) else data)
    return target


# ------------------------------------------------------------------------------ listing

def list_documents(settings) -> list[SharedDocument]:
    """Every indexable file in ``shared_kb/``, sorted by source."""
    root = settings.shared_kb_dir
    documents = [_theory_document(root, path, _read_manifest(path))
                 for path in _files(root / THEORY)]
    analysts = root / ANALYSTS
    if analysts.is_dir():
        for folder in sorted(p for p in analysts.iterdir() if p.is_dir()):
            if folder.name.startswith("."):
                continue
            for sub in INDEXED_ANALYST_FOLDERS:
                documents += [_analyst_document(root, folder.name, path)
                              for path in _files(folder / sub, recursive=True)]
    return sorted(documents, key=lambda d: d.source)


def document_kind(name: str) -> str | None:
    """The kind of a file in the shared folder, seeing through rclone conflict suffixes;
    None if it is not indexable."""
    if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES):
        return None
    base = without_conflict_suffix(name)
    if base.endswith(MANIFEST_SUFFIX):
        return None
    return KINDS.get(os.path.splitext(base)[1].lower())


def _files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Indexable files in `folder` (and below it when `recursive`); hidden files and folders
    and symbolic links are skipped (rclone does not sync links, so they are nobody's
    document and may point anywhere)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    found: list[Path] = []
    for here, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if recursive and not d.startswith(".")]
        found += [Path(here) / n for n in names if document_kind(n) is not None]
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def _theory_document(root: Path, path: Path, manifest: dict | None) -> SharedDocument:
    stat = path.stat()
    manifest = manifest or {}
    sha = manifest.get("sha256") if manifest.get("size") == stat.st_size else None
    stored = _STORED.match(without_conflict_suffix(path.name))
    if sha is None or not stored or not sha.startswith(stored.group("sha8")):
        sha = file_sha256(path)
    title = manifest.get("title") or (stored.group("stem") if stored else path.stem)
    return SharedDocument(
        source=path.relative_to(root).as_posix(), path=path, sha256=sha, size=stat.st_size,
        analyst=str(manifest.get("added_by") or UNKNOWN_ANALYST),
        added_at=str(manifest.get("added_at") or _mtime(stat.st_mtime)), title=str(title),
        tags=tuple(str(t) for t in manifest.get("tags") or ()),
        kind=document_kind(path.name) or "text")


def _analyst_document(root: Path, analyst: str, path: Path) -> SharedDocument:
    stat = path.stat()
    return SharedDocument(source=path.relative_to(root).as_posix(), path=path,
                          sha256=file_sha256(path), size=stat.st_size, analyst=analyst,
                          added_at=_mtime(stat.st_mtime), title=path.stem, tags=(),
                          kind=document_kind(path.name) or "text")


def _find_theory(theory: Path, sha256: str) -> SharedDocument | None:
    """The theory document with this content, whatever its name, if there is one."""
    if not theory.is_dir():
        return None
    for path in sorted(theory.glob(f"*--{sha256[:8]}.*")):
        if document_kind(path.name) is None or without_conflict_suffix(path.name) != path.name:
            continue
        manifest = _read_manifest(path)
        known = manifest.get("sha256") if manifest else None
        if (known or file_sha256(path)) == sha256:
            return _theory_document(theory.parent, path, manifest)
    return None


# ------------------------------------------------------------------------------ helpers

_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of the file (cached per path, size and modification time in this process)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(MB), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _read_manifest(path: Path) -> dict | None:
    """The file's manifest; when two analysts added the same file at once, rclone keeps both
    manifests as conflict copies (``.manifest.json.conflict1``, ...): the earliest addition
    counts, the same choice on every machine."""
    manifest = _load_json(_manifest_path(path))
    if manifest is not None:
        return manifest
    copies = [_load_json(p) for p in path.parent.glob(glob.escape(_manifest_path(path).name)
                                                         + ".conflict*")]
    copies = [c for c in copies if c is not None]
    if not copies:
        return None
    return min(copies, key=lambda c: (str(c.get("added_at", "")), str(c.get("added_by", ""))))


def _load_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _split_name(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    return stem, ext.lower()


def _slug(stem: str) -> str:
    """A file-name-safe stem: letters (any script), digits, '-', '_' and '.'; other runs of
    characters become one '-'; at most 80 characters."""
    slug = re.sub(r"[^\w.-]+", "-", stem, flags=re.UNICODE).strip("-._")[:80].strip("-._")
    return slug or "document"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _mtime(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
    return moment.replace("+00:00", "Z")
