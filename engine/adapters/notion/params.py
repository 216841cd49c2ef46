"""The parameter table: one Notion row per setup, one number column per tunable parameter.

Columns are the dotted paths of the setup document: every key of the setup's `optimise:`
section (``conditions.cross.fast``) and every number of its plan (``plan.target.percent``),
so the same name means the same thing in the YAML, the optimiser and Notion. The title column
shows the setup's name, ``Setup id`` is the row's stable key, ``Version`` the version the row
shows, ``ITA status`` what ITA did with the row's last edit, ``Diff`` the YAML diff (old →
new version, `SetupStore.diff`) of the last version saved from the row, split at Notion's
2,000-character limit.

- `push_parameters` writes the active versions (adding the number columns a setup needs).
- `pull_parameters` reads the rows back: a row whose numbers differ from its version's is
  applied to that version and validated with the setup schema (the same checks as the YAML);
  valid → saved as a **new version** through the setups store (made active), and the row gets
  the new version, the change (``saved v4: plan.target.percent 2 → 2.5``) and the diff; invalid →
  nothing is saved and the row's ITA status says why. A column renamed or deleted in Notion,
  an empty cell or a row for an unknown setup is reported in the status, never a crash.

The new version's YAML is written from the validated setup (`dump_setup`): the values are
exact, but comments of the edited version are not carried over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.adapters.notion import blocks
from engine.adapters.notion.config import NotionSettings, require_enabled
from engine.adapters.notion.gateway import NotionGateway
from engine.adapters.notion.state import NotionState, notion_lock
from engine.adapters.notion.workspace import DIFF_COLUMN, PARAMETERS_KEY, STATUS_COLUMN
from engine.errors import ConfigurationError, SetupError
from engine.setups.params import apply_parameters
from engine.setups.parse import dump_setup
from engine.setups.schema import Setup
from engine.setups.store import SetupStore

FIXED_COLUMNS = {"Setup", PARAMETERS_KEY, "Version", STATUS_COLUMN, DIFF_COLUMN}


def setup_parameters(setup: Setup) -> dict[str, float | int]:
    """{dotted path: value} of the setup's `optimise:` keys, then its plan's numbers."""
    data = setup.model_dump(mode="json", by_alias=True)
    values: dict[str, float | int] = {}
    for path in setup.optimise:
        value = _at(data, path)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[path] = value
    for path, value in _numbers(data.get("plan") or {}, "plan"):
        values.setdefault(path, value)
    return values


def _at(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _numbers(node: Any, prefix: str) -> list[tuple[str, float | int]]:
    if isinstance(node, dict):
        return [pair for key, child in node.items() for pair in _numbers(child, f"{prefix}.{key}")]
    if isinstance(node, int | float) and not isinstance(node, bool):
        return [(prefix, node)]
    return []


@dataclass(frozen=True)
class PullOutcome:
    setup_id: str
    status: str  # what the row's ITA status column now says
    saved_version: int | None = None  # the new version, when one was saved
    diff: str = ""  # the YAML diff from the row's version to the saved one


def _parameters_source(state: NotionState) -> str:
    database = state.database("parameters")
    if database is None:
        raise ConfigurationError("Notion's parameter table does not exist yet: run "
                                 "`ita notion setup` first")
    return database["data_source_id"]


def push_parameters(home: str | Path, settings: NotionSettings,
                    store: SetupStore | None = None) -> int:
    """Write every setup's active version to its row; returns the rows written."""
    require_enabled(settings)
    store = store or SetupStore(Path(home) / "setups")
    with notion_lock(home), NotionGateway(settings) as notion:
        state = NotionState(home, settings.parent_page_id())
        source = _parameters_source(state)
        versions = [store.load(setup_id) for setup_id in store.ids()]
        have = notion.data_source(source)["properties"]
        wanted = {path for v in versions for path in setup_parameters(v.setup)}
        missing = {path: {"number": {"format": "number"}} for path in sorted(wanted - set(have))}
        if missing:
            notion.update_schema(source, missing)
        for version in versions:
            _write_row(notion, state, source, version.id, version.version,
                       setup_parameters(version.setup), name=version.setup.name,
                       status=f"shows v{version.version}")
        return len(versions)


def _write_row(notion: NotionGateway, state: NotionState, source: str, setup_id: str,
               version: int, values: dict[str, float | int], *, status: str,
               name: str | None = None) -> None:
    props: dict[str, Any] = {path: blocks.number_value(value) for path, value in values.items()}
    props["Version"] = blocks.number_value(version)
    props[STATUS_COLUMN] = blocks.text_value(status)
    if name is not None:
        props["Setup"] = blocks.title_value(name)
    stored = state.row("parameters", setup_id)
    page_id = notion.upsert_row(source, PARAMETERS_KEY, setup_id, props,
                                page_id=stored["page_id"] if stored else None)
    state.set_row("parameters", setup_id, page_id, f"v{version}")
    state.save()


def pull_parameters(home: str | Path, settings: NotionSettings,
                    store: SetupStore | None = None) -> list[PullOutcome]:
    """Read the rows; save each valid edit as a new setup version (see the module docstring)."""
    require_enabled(settings)
    store = store or SetupStore(Path(home) / "setups")
    outcomes = []
    with notion_lock(home), NotionGateway(settings) as notion:
        state = NotionState(home, settings.parent_page_id())
        source = _parameters_source(state)
        has_diff = False
        for row in notion.query(source):
            outcome = _pull_row(store, row["properties"])
            if outcome is None:
                continue
            props = {STATUS_COLUMN: blocks.text_value(outcome.status)}
            if outcome.saved_version is not None:
                props["Version"] = blocks.number_value(outcome.saved_version)
                has_diff = has_diff or _ensure_diff_column(notion, source)
                props[DIFF_COLUMN] = blocks.text_value(outcome.diff)
            notion.call(lambda r=row, p=props: notion.client.pages.update(r["id"], properties=p),
                        what=f"writing the status of {outcome.setup_id!r}", object_id=row["id"])
            outcomes.append(outcome)
    return outcomes


def _ensure_diff_column(notion: NotionGateway, source: str) -> bool:
    """Add the Diff column to a table made before it existed (or where it was deleted)."""
    if DIFF_COLUMN not in notion.data_source(source)["properties"]:
        notion.update_schema(source, {DIFF_COLUMN: {"rich_text": {}}})
    return True


def _pull_row(store: SetupStore, props: dict[str, Any]) -> PullOutcome | None:
    setup_id = (blocks.plain(props.get(PARAMETERS_KEY)) or "").strip()
    if not setup_id:
        return None
    if PARAMETERS_KEY not in props:
        return None
    try:
        shown = store.load(setup_id, _version(props))
    except SetupError as error:
        return PullOutcome(setup_id, f"error: {error}")
    current = setup_parameters(shown.setup)
    problems, edits = [], {}
    for path, value in current.items():
        if path not in props:
            problems.append(f"column {path!r} is missing (renamed or deleted?)")
            continue
        cell = blocks.plain(props[path])
        if cell is None:
            problems.append(f"{path} is empty")
        elif float(cell) != float(value):
            edits[path] = cell
    if problems:
        return PullOutcome(setup_id, "error: " + "; ".join(problems) + "; nothing saved")
    if not edits:
        return None
    try:
        edited = apply_parameters(shown.setup, edits)
    except SetupError as error:
        return PullOutcome(setup_id, f"error: {error}; nothing saved")
    saved = store.save(dump_setup(edited), source=f"Notion row {setup_id}")
    change = ", ".join(f"{path} {_fmt(current[path])} → {_fmt(value)}"
                       for path, value in edits.items())
    return PullOutcome(setup_id, f"saved v{saved.version}: {change}", saved.version,
                       store.diff(setup_id, shown.version, saved.version))


def _version(props: dict[str, Any]) -> int | None:
    value = blocks.plain(props.get("Version"))
    return int(value) if isinstance(value, int | float) else None


def _fmt(value: float | int) -> str:
    return f"{value:g}"
