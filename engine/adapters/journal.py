"""The journal on disk: one YAML file per entry under the analyst's own shared folder.

Layout (``Settings.shared_kb_dir`` is ``<ITA_HOME>/shared_kb``, the folder rclone syncs):

    shared_kb/analysts/<ITA_ANALYST>/journal/
        <entry_id>.yaml              one entry (`engine.journal.JournalEntry`)
        <entry_id>/<sha256-12>.png   its screenshots (PNG or JPEG), named by their content

Rules:

- **One writer per file.** Only this analyst writes under ``analysts/<name>/``
  (docs/ARCHITECTURE.md, `sync/`), so two analysts never touch one file and a sync never has
  to merge.
- **No half files.** Entries are written atomically (temp file + rename, `engine._io`); a
  screenshot is created exclusively and never rewritten, so one image attached twice is one
  file.
- **Stable names.** The entry id is the trade idea's key (`engine.journal.entry_id`), so
  re-running a backtest of the same version finds the same entries.
- **Bad input is one line.** A file that is not a PNG/JPEG image or is larger than
  `MAX_SCREENSHOT_BYTES`, an unknown tag format, or a hand-edited entry that no longer
  validates is a `DataError` naming the file or field.

Within one analyst the app and the CLI may both write an entry: the last save wins, whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
from pathlib import Path

import yaml
from pydantic import ValidationError

from engine._io import create_exclusive, write_text_atomic
from engine.errors import ConfigurationError, DataError
from engine.ids import checked_id
from engine.journal import JournalEntry, TradeKey, entry_id, new_entry, parse_tags

MAX_SCREENSHOT_BYTES = 5 * 1024 * 1024
_IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": ("png", "PNG"), b"\xff\xd8\xff": ("jpg", "JPEG")}


def journal_dir(settings) -> Path:
    """``shared_kb/analysts/<analyst>/journal`` for these settings."""
    analyst = checked_id(settings.analyst, what="analyst name (ITA_ANALYST)",
                         error=ConfigurationError)
    return settings.shared_kb_dir / "analysts" / analyst / "journal"


def image_extension(name: str, data: bytes) -> str:
    """``png`` or ``jpg`` when `data` is a whole PNG or JPEG image, else a `DataError`."""
    if len(data) > MAX_SCREENSHOT_BYTES:
        raise DataError(f"screenshot {name!r} is {len(data) / 1e6:.1f} MB: the limit is "
                        f"{MAX_SCREENSHOT_BYTES // (1024 * 1024)} MB (save it smaller, e.g. "
                        "as JPEG)")
    kind = next((v for magic, v in _IMAGE_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise DataError(f"screenshot {name!r} is not a PNG or JPEG image")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            if image.format != kind[1]:
                raise DataError(f"screenshot {name!r} is not a PNG or JPEG image")
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DataError(f"screenshot {name!r} is a damaged image: {error}") from None
    return kind[0]


class JournalStore:
    """Entries of one analyst's journal (``root`` is their ``journal/`` folder)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings=None) -> JournalStore:
        from engine.settings import get_settings

        return cls(journal_dir(settings or get_settings()))

    def _path(self, entry: str) -> Path:
        return self.root / f"{checked_id(entry, what='journal entry id', error=DataError)}.yaml"

    def get(self, entry: str) -> JournalEntry | None:
        """The entry with this id, or None when there is none."""
        path = self._path(entry)
        return self._read(path) if path.exists() else None

    def _read(self, path: Path) -> JournalEntry:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            return JournalEntry.model_validate(data)
        except yaml.YAMLError as error:
            raise DataError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "entry"
            message = first["msg"].removeprefix("Value error, ")
            raise DataError(f"{path}: {field}: {message}") from None

    def entries(self, *, setup_id: str | None = None,
                setup_version: int | None = None) -> dict[str, JournalEntry]:
        """Every entry (optionally of one setup, or one setup version), by entry id."""
        if not self.root.is_dir():
            return {}
        found = {}
        for path in sorted(self.root.glob("*.yaml")):
            if path.name.startswith("."):
                continue
            entry = self._read(path)
            if setup_id is not None and entry.setup_id != setup_id:
                continue
            if setup_version is not None and entry.setup_version != int(setup_version):
                continue
            found[entry.entry_id] = entry
        return found

    def save(self, entry: JournalEntry) -> JournalEntry:
        """Write `entry` atomically (stamping ``updated_at``) and return what was written."""
        entry = entry.model_copy(update={"updated_at": dt.datetime.now(dt.UTC).isoformat()})
        entry = JournalEntry.model_validate(entry.model_dump())
        if entry.entry_id != entry_id(entry.key):
            raise DataError(f"journal entry {entry.entry_id!r} does not match its trade key")
        text = yaml.safe_dump(entry.model_dump(), sort_keys=False, allow_unicode=True)
        write_text_atomic(self._path(entry.entry_id), text)
        return entry

    def annotate(self, key: TradeKey, *, note: str | None = None, tags=None, mistakes=None,
                 run_id: str | None = None) -> JournalEntry | None:
        """Set the note, tags and/or mistakes of the trade `key` (None leaves a field as it
        is); tags and mistakes are lists or text ("a+, news"). An entry left with nothing in it
        is removed, so clearing a note leaves no file behind. Returns the entry or None."""
        entry = self.get(entry_id(key)) or new_entry(key, run_id=run_id)
        update = {"run_id": run_id or entry.run_id}
        if note is not None:
            update["note"] = note.strip()
        if tags is not None:
            update["tags"] = parse_tags(tags, field="tags")
        if mistakes is not None:
            update["mistakes"] = parse_tags(mistakes, field="mistakes")
        entry = JournalEntry.model_validate({**entry.model_dump(), **update})
        if not (entry.note or entry.tags or entry.mistakes or entry.screenshots):
            self.delete(entry.entry_id)
            return None
        return self.save(entry)

    def attach(self, key: TradeKey, name: str, data: bytes, *,
               run_id: str | None = None) -> Path:
        """Attach a PNG/JPEG screenshot to the trade `key`; returns its file. The file is
        named by its content, so attaching the same image twice keeps one copy."""
        extension = image_extension(name, data)
        entry = self.get(entry_id(key)) or new_entry(key, run_id=run_id)
        file_name = f"{hashlib.sha256(data).hexdigest()[:12]}.{extension}"
        path = self.root / entry.entry_id / file_name
        create_exclusive(path, data)
        if file_name not in entry.screenshots:
            entry = entry.model_copy(update={"screenshots": [*entry.screenshots, file_name]})
        self.save(entry)
        return path

    def screenshot(self, entry: JournalEntry, file_name: str) -> Path:
        """The file of one of `entry`'s screenshots."""
        name = checked_id(file_name, what="screenshot file name", error=DataError)
        return self.root / entry.entry_id / name

    def delete(self, entry: str) -> bool:
        """Remove an entry and its screenshots; False when there was none."""
        path = self._path(entry)
        folder = self.root / entry
        existed = path.exists()
        path.unlink(missing_ok=True)
        if folder.is_dir():
            shutil.rmtree(folder)
        return existed
