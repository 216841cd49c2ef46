"""The setup store: ``setups/<id>/v0001.yaml``, ``v0002.yaml``, ... immutable versions.

Each save validates first, then creates the next version atomically and exclusively: a version
file is never overwritten, so two writers saving at once (the app, the CLI, a second analyst)
get two numbers (the loser of a race retries with the next one). An invalid text never
becomes a version and never replaces the active one. The text is stored verbatim (comments
are the trader's notes); its hash (sha256 of the text with line endings normalised) identifies
a version, so saving identical text creates nothing. ``setups/<id>/active`` names the active
version (written atomically; the last writer wins); rolling back is activating an older one.
Editor layouts live beside a version (``v0003.layout.json``), never inside the rule.

Setup ids become folder names: `checked_id` refuses ids and refs (``id@3``) that could escape
the store (``..``, ``/``, ``\\``, NUL, reserved device names).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import re
from pathlib import Path

from engine._io import create_exclusive, write_text_atomic
from engine.errors import SetupError
from engine.ids import checked_id
from engine.setups.parse import parse_setup, rule_hash
from engine.setups.schema import Setup

VERSION_FILE = re.compile(r"^v(\d{4,})\.yaml$")
SAVE_ATTEMPTS = 1000


@dataclasses.dataclass(frozen=True)
class SetupVersion:
    id: str
    version: int
    hash: str
    rule_hash: str
    path: Path
    text: str
    setup: Setup
    created_at: dt.datetime

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


@dataclasses.dataclass(frozen=True)
class SetupInfo:
    id: str
    name: str
    versions: int
    active: int | None
    tags: list[str]
    timeframe: str


def text_hash(text: str) -> str:
    normalised = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").splitlines())
    return hashlib.sha256(normalised.strip().encode()).hexdigest()[:16]


def split_ref(ref: str) -> tuple[str, int | None]:
    """"london-fvg@3" -> ("london-fvg", 3); "london-fvg" -> ("london-fvg", None)."""
    name, _, version = ref.partition("@")
    name = checked_setup_id(name)
    if version and not version.lstrip("v").isdigit():
        raise SetupError(f"setup reference {ref!r}: version must be a number, e.g. {name}@2")
    return name, int(version.lstrip("v")) if version else None


def checked_setup_id(setup_id: object) -> str:
    """`setup_id` if it is safe as a folder name, else a `SetupError` naming it."""
    return checked_id(setup_id, what="setup id", error=SetupError)


def _safe(name: str) -> bool:
    try:
        checked_setup_id(name)
    except SetupError:
        return False
    return True


class SetupStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings=None) -> SetupStore:
        from engine.settings import get_settings

        return cls((settings or get_settings()).setups_dir)

    # --- reading --------------------------------------------------------------------------
    def ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and _safe(p.name) and self._numbers(p.name))

    def _folder(self, setup_id: str) -> Path:
        return self.root / checked_setup_id(setup_id)

    def _numbers(self, setup_id: str) -> list[int]:
        folder = self._folder(setup_id)
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir()
                      if (m := VERSION_FILE.match(p.name)))

    def version_path(self, setup_id: str, version: int) -> Path:
        return self._folder(setup_id) / f"v{version:04d}.yaml"

    def layout_path(self, setup_id: str, version: int) -> Path:
        return self._folder(setup_id) / f"v{version:04d}.layout.json"

    def active(self, setup_id: str) -> int | None:
        pointer = self._folder(setup_id) / "active"
        numbers = self._numbers(setup_id)
        if pointer.exists():
            text = pointer.read_text().strip()
            if text.isdigit() and int(text) in numbers:
                return int(text)
        return numbers[-1] if numbers else None

    def load(self, ref: str, version: int | None = None) -> SetupVersion:
        """A version by id and number, or ``"id@N"``; the active version by default."""
        setup_id, ref_version = split_ref(ref)
        version = version or ref_version or self.active(setup_id)
        if version is None:
            near = difflib.get_close_matches(setup_id, self.ids(), n=1)
            hint = f" — did you mean {near[0]!r}?" if near else ""
            raise SetupError(f"no setup {setup_id!r}{hint} (ita setup list shows them)")
        path = self.version_path(setup_id, version)
        if not path.exists():
            have = ", ".join(str(n) for n in self._numbers(setup_id))
            raise SetupError(f"setup {setup_id!r} has no version {version} (has: {have})")
        text = path.read_text(encoding="utf-8")
        setup = parse_setup(text, source=str(path))
        created = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
        return SetupVersion(setup_id, version, text_hash(text), rule_hash(setup), path, text,
                            setup, created)

    def versions(self, setup_id: str) -> list[SetupVersion]:
        return [self.load(setup_id, n) for n in self._numbers(setup_id)]

    def list(self) -> list[SetupInfo]:
        out = []
        for setup_id in self.ids():
            current = self.load(setup_id)
            out.append(SetupInfo(setup_id, current.setup.name, len(self._numbers(setup_id)),
                                 self.active(setup_id), current.setup.tags,
                                 current.setup.market.timeframe))
        return out

    def diff(self, setup_id: str, old: int, new: int) -> str:
        a, b = self.load(setup_id, old), self.load(setup_id, new)
        return "".join(difflib.unified_diff(
            a.text.splitlines(keepends=True), b.text.splitlines(keepends=True),
            fromfile=f"{setup_id} v{old}", tofile=f"{setup_id} v{new}"))

    # --- writing --------------------------------------------------------------------------
    def save(self, text: str, *, activate: bool = True, source: str = "setup.yaml") -> SetupVersion:
        """Validate `text` and store it as the next version (or return the identical one)."""
        setup = parse_setup(text, source=source)
        digest = text_hash(text)
        for number in reversed(self._numbers(setup.id)):
            if text_hash(self.version_path(setup.id, number).read_text("utf-8")) == digest:
                if activate:
                    self.activate(setup.id, number)
                return self.load(setup.id, number)
        number = self._create_next(setup.id, text if text.endswith("\n") else text + "\n")
        if activate:
            self.activate(setup.id, number)
        return self.load(setup.id, number)

    def _create_next(self, setup_id: str, text: str) -> int:
        """Create the next free version file holding `text`; its number."""
        data = text.encode("utf-8")
        number = (self._numbers(setup_id) or [0])[-1] + 1
        for _ in range(SAVE_ATTEMPTS):
            if create_exclusive(self.version_path(setup_id, number), data):
                return number
            number += 1  # another writer took this number first
        raise SetupError(f"setup {setup_id!r}: could not find a free version number after "
                         f"{SAVE_ATTEMPTS} tries; check the folder {self._folder(setup_id)}")

    def activate(self, setup_id: str, version: int) -> None:
        if version not in self._numbers(setup_id):
            raise SetupError(f"setup {setup_id!r} has no version {version}")
        write_text_atomic(self._folder(setup_id) / "active", f"{version}\n")

    def seed_examples(self, folder: Path) -> list[SetupVersion]:
        """Add each example setup whose id is not in the store yet."""
        added = []
        for path in sorted(Path(folder).glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            setup = parse_setup(text, source=str(path))
            if not self._numbers(setup.id):
                added.append(self.save(text, source=str(path)))
        return added
