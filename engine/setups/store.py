"""The setup store: ``setups/<id>/v0001.yaml``, ``v0002.yaml``, ... immutable versions.

Each save validates first, then writes the next version atomically; an invalid text never
becomes a version and never replaces the active one. The text is stored verbatim (comments
are the trader's notes); its hash (sha256 of the text with line endings normalised) identifies
a version, so saving identical text creates nothing. ``setups/<id>/active`` names the active
version; rolling back is activating an older one. Editor layouts live beside a version
(``v0003.layout.json``), never inside the rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import re
from pathlib import Path

from engine._io import write_text_atomic
from engine.errors import SetupError
from engine.setups.parse import parse_setup, rule_hash
from engine.setups.schema import Setup

VERSION_FILE = re.compile(r"^v(\d{4,})\.yaml$")


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
    if version and not version.lstrip("v").isdigit():
        raise SetupError(f"setup reference {ref!r}: version must be a number, e.g. {name}@2")
    return name, int(version.lstrip("v")) if version else None


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
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self._numbers(p.name))

    def _numbers(self, setup_id: str) -> list[int]:
        folder = self.root / setup_id
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir()
                      if (m := VERSION_FILE.match(p.name)))

    def version_path(self, setup_id: str, version: int) -> Path:
        return self.root / setup_id / f"v{version:04d}.yaml"

    def layout_path(self, setup_id: str, version: int) -> Path:
        return self.root / setup_id / f"v{version:04d}.layout.json"

    def active(self, setup_id: str) -> int | None:
        pointer = self.root / setup_id / "active"
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
            if text_hash(self.version_path(setup.id, number).read_text()) == digest:
                if activate:
                    self.activate(setup.id, number)
                return self.load(setup.id, number)
        number = (self._numbers(setup.id) or [0])[-1] + 1
        path = self.version_path(setup.id, number)
        write_text_atomic(path, text if text.endswith("\n") else text + "\n")
        if activate:
            self.activate(setup.id, number)
        return self.load(setup.id, number)

    def activate(self, setup_id: str, version: int) -> None:
        if version not in self._numbers(setup_id):
            raise SetupError(f"setup {setup_id!r} has no version {version}")
        write_text_atomic(self.root / setup_id / "active", f"{version}\n")

    def seed_examples(self, folder: Path) -> list[SetupVersion]:
        """Add each example setup whose id is not in the store yet."""
        added = []
        for path in sorted(Path(folder).glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            setup = parse_setup(text, source=str(path))
            if not self._numbers(setup.id):
                added.append(self.save(text, source=str(path)))
        return added
